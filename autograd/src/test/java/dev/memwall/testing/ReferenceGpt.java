package dev.memwall.testing;

import java.util.Map;

/**
 * {@code nn.Gpt}'s loss in double precision with plain loops, independent of memwall's ops: token + learned position
 * embedding; pre-LN blocks x + proj(attn(ln1(x))), x + out(gelu_tanh(fc(ln2(x)))); LayerNorm eps 1e-5 with weight
 * and bias; qkv rows [0,D) q, [D,2D) k, [2D,3D) v, head h on channels [h·D/H, (h+1)·D/H); scores scaled by
 * 1/sqrt(D/H) with a causal mask; Linear weights [out, in]; final LayerNorm lnf; untied head [V, D] without bias;
 * no dropout. Parameters are read by their memwall/PyTorch names from a map whose arrays the caller may change
 * between calls (finite differences perturb them in place).
 */
public final class ReferenceGpt {
    private final Map<String, double[]> w;
    private final int dim, heads, layers;

    public ReferenceGpt(Map<String, double[]> params, int heads) {
        this.w = params;
        this.dim = p("lnf.weight").length;
        int l = 0;
        while (params.containsKey("blocks." + l + ".qkv.weight")) l++;
        this.layers = l;
        this.heads = heads;
    }

    public int layers() {
        return layers;
    }

    private double[] p(String name) {
        double[] v = w.get(name);
        if (v == null) throw new IllegalArgumentException("reference GPT needs parameter " + name);
        return v;
    }

    /** Mean over every position of every row of −log softmax(logits)[target]: {@code Gpt.loss}. */
    public double meanLoss(int[][] ids, int[][] targets) {
        double sum = 0;
        int n = 0;
        for (int b = 0; b < ids.length; b++) {
            sum += sequenceLossSum(ids[b], targets[b]);
            n += ids[b].length;
        }
        return sum / n;
    }

    /** Sum over positions of −log softmax(logits)[target]. */
    public double sequenceLossSum(int[] ids, int[] targets) {
        int t = ids.length, d = dim;
        double[] tok = p("tok.weight"), pos = p("pos.weight");
        double[][] x = new double[t][d];
        for (int i = 0; i < t; i++) for (int c = 0; c < d; c++) x[i][c] = tok[ids[i] * d + c] + pos[i * d + c];
        for (int l = 0; l < layers; l++) {
            String b = "blocks." + l + ".";
            double[][] h = layerNorm(x, p(b + "ln1.weight"), p(b + "ln1.bias"));
            double[][] a = linear(attention(linear(h, p(b + "qkv.weight"), p(b + "qkv.bias"))), p(b + "proj.weight"), p(b + "proj.bias"));
            add(x, a);
            double[][] f = linear(layerNorm(x, p(b + "ln2.weight"), p(b + "ln2.bias")), p(b + "fc.weight"), p(b + "fc.bias"));
            for (double[] row : f) for (int c = 0; c < row.length; c++) row[c] = geluTanh(row[c]);
            add(x, linear(f, p(b + "out.weight"), p(b + "out.bias")));
        }
        double[][] logits = linear(layerNorm(x, p("lnf.weight"), p("lnf.bias")), p("head.weight"), null);
        double loss = 0;
        for (int i = 0; i < t; i++) {
            double max = Double.NEGATIVE_INFINITY;
            for (double v : logits[i]) max = Math.max(max, v);
            double s = 0;
            for (double v : logits[i]) s += Math.exp(v - max);
            loss += max + Math.log(s) - logits[i][targets[i]];
        }
        return loss;
    }

    /** qkv [T, 3D] → [T, D]: per head softmax(q·kᵀ / sqrt(hd), causal) · v. */
    private double[][] attention(double[][] qkv) {
        int t = qkv.length, d = dim, hd = dim / heads;
        double scale = 1.0 / Math.sqrt(hd);
        double[][] y = new double[t][d];
        for (int h = 0; h < heads; h++) {
            int q0 = h * hd, k0 = d + h * hd, v0 = 2 * d + h * hd;
            for (int i = 0; i < t; i++) {
                double[] s = new double[i + 1];
                double max = Double.NEGATIVE_INFINITY;
                for (int j = 0; j <= i; j++) {
                    double dot = 0;
                    for (int c = 0; c < hd; c++) dot += qkv[i][q0 + c] * qkv[j][k0 + c];
                    s[j] = dot * scale;
                    max = Math.max(max, s[j]);
                }
                double z = 0;
                for (int j = 0; j <= i; j++) {
                    s[j] = Math.exp(s[j] - max);
                    z += s[j];
                }
                for (int j = 0; j <= i; j++) for (int c = 0; c < hd; c++) y[i][h * hd + c] += s[j] / z * qkv[j][v0 + c];
            }
        }
        return y;
    }

    /** x [T, in] · Wᵀ + b with W [out, in]. */
    private static double[][] linear(double[][] x, double[] weight, double[] bias) {
        int in = x[0].length, out = weight.length / in;
        double[][] y = new double[x.length][out];
        for (int i = 0; i < x.length; i++) {
            for (int o = 0; o < out; o++) {
                double s = bias == null ? 0 : bias[o];
                for (int c = 0; c < in; c++) s += weight[o * in + c] * x[i][c];
                y[i][o] = s;
            }
        }
        return y;
    }

    private static double[][] layerNorm(double[][] x, double[] weight, double[] bias) {
        int d = x[0].length;
        double[][] y = new double[x.length][d];
        for (int i = 0; i < x.length; i++) {
            double mean = 0, var = 0;
            for (double v : x[i]) mean += v;
            mean /= d;
            for (double v : x[i]) var += (v - mean) * (v - mean);
            var /= d; // biased variance, as PyTorch
            double inv = 1 / Math.sqrt(var + 1e-5);
            for (int c = 0; c < d; c++) y[i][c] = (x[i][c] - mean) * inv * weight[c] + bias[c];
        }
        return y;
    }

    public static double geluTanh(double x) {
        return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
    }

    private static void add(double[][] x, double[][] y) {
        for (int i = 0; i < x.length; i++) for (int c = 0; c < x[i].length; c++) x[i][c] += y[i][c];
    }
}
