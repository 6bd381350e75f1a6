package dev.memwall.cli;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The eval spec's GPT in double precision with plain loops, independent of memwall's ops: token + learned position
 * embedding; pre-LN blocks x + proj(attn(ln1(x))), x + out(gelu_tanh(fc(ln2(x)))); LayerNorm eps 1e-5 with weight
 * and bias; qkv rows [0,D) q, [D,2D) k, [2D,3D) v, head h on channels [h·D/H, (h+1)·D/H); scores scaled by
 * 1/sqrt(D/H) with a causal mask; Linear weights [out, in]; final LayerNorm lnf; untied head [V, D] without bias.
 * Loss: mean cross-entropy over every target of every window; gradient: central finite differences.
 */
final class ReferenceGpt {
    final Map<String, double[]> w = new LinkedHashMap<>();
    final int vocab, maxT, dim, heads, layers;

    ReferenceGpt(Map<String, float[]> values, int heads) {
        values.forEach((k, v) -> {
            double[] d = new double[v.length];
            for (int i = 0; i < v.length; i++) d[i] = v[i];
            w.put(k, d);
        });
        this.dim = values.get("lnf.weight").length;
        this.vocab = values.get("tok.weight").length / dim;
        this.maxT = values.get("pos.weight").length / dim;
        int l = 0;
        while (values.containsKey("blocks." + l + ".qkv.weight")) l++;
        this.layers = l;
        this.heads = heads;
    }

    private double[] p(String name) {
        double[] v = w.get(name);
        if (v == null) throw new IllegalArgumentException("reference needs " + name);
        return v;
    }

    /** Windows i = 0 .. count-1 with inputs data[i·T, i·T+T) and targets data[i·T+1, i·T+T+1). */
    double meanLoss(byte[] data, int t, int count) {
        double sum = 0;
        for (int i = 0; i < count; i++) {
            int[] ids = new int[t], tg = new int[t];
            for (int j = 0; j < t; j++) {
                ids[j] = data[i * t + j] & 0xFF;
                tg[j] = data[i * t + j + 1] & 0xFF;
            }
            sum += sequenceLossSum(ids, tg);
        }
        return sum / ((double) count * t);
    }

    /** Sum over positions of −log softmax(logits)[target]. */
    double sequenceLossSum(int[] ids, int[] targets) {
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

    static double geluTanh(double x) {
        return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
    }

    private static void add(double[][] x, double[][] y) {
        for (int i = 0; i < x.length; i++) for (int c = 0; c < x[i].length; c++) x[i][c] += y[i][c];
    }

    /** Global L2 norm of d(meanLoss)/d(every parameter) by central differences of step {@code h}. */
    double gradNorm(byte[] data, int t, int count, double h) {
        double sq = 0;
        for (double[] v : w.values()) {
            for (int i = 0; i < v.length; i++) {
                double old = v[i];
                v[i] = old + h;
                double up = meanLoss(data, t, count);
                v[i] = old - h;
                double down = meanLoss(data, t, count);
                v[i] = old;
                double g = (up - down) / (2 * h);
                sq += g * g;
            }
        }
        return Math.sqrt(sq);
    }
}
