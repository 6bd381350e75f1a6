package dev.memwall.testing;

import dev.memwall.autograd.Engine;
import dev.memwall.autograd.Scope;
import dev.memwall.autograd.Tensor;
import dev.memwall.nn.Gpt;
import dev.memwall.nn.GptConfig;
import dev.memwall.ops.F;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * Hessian-vector products H·v of {@code nn.Gpt}'s loss with respect to all its parameters: memwall's (double backward
 * in FP32) and a reference (4-point finite differences of {@link ReferenceGpt}'s loss in double), compared parameter
 * by parameter, each block against its own norm.
 */
public final class GptHvp {
    /** The tiny GPT every H·v test uses: vocabulary 16, context 8, width 16, 2 heads, 2 layers, no dropout. */
    public static final GptConfig TINY = new GptConfig(16, 8, 16, 2, 2, 0f);
    /** Finite-difference steps along a coordinate and along v. */
    private static final double H = 1e-4, EPS = 1e-4;

    /**
     * Relative error allowed per parameter block. FP32 carries 2^-24 ≈ 6e-8 relative per operation; the forward, the
     * gradient and the second backward each chain a few dozen ops (a 2-layer block stack and the head), and the
     * measured block errors are 1e-6 to 3e-5 (the worst in the embeddings, whose entries sum many rows). The reference
     * is good to ~1e-7 (steps of 1e-4: truncation O(h²), rounding 1e-16·L/(h·ε) per entry). 1e-3 leaves a margin of
     * over 30 for rounding and is still 1000× below what a missing term costs: zeroing any block, or dropping one
     * path (a view without history), puts that block's error at O(1).
     */
    public static final double TOL = 1e-4;

    private GptHvp() {
    }

    /** Token ids and next-token targets for {@code rows} rows, parameter values and a direction v, all seeded. */
    public record Problem(GptConfig config, int[][] ids, int[][] targets, Map<String, float[]> params,
                          Map<String, float[]> v, Map<String, int[]> shapes) {
    }

    /**
     * Parameters drawn so that every term of the Hessian is of its natural size (the default initialisation's 0.02
     * makes the attention nearly uniform and the model nearly linear): linear weights N(0, 1/in), embeddings
     * N(0, 0.25), layer-norm scales 1 + N(0, 0.04), biases N(0, 0.01); v is N(0, 1) per entry.
     */
    public static Problem problem(GptConfig c, int rows, long seed) {
        Random r = new Random(seed);
        Gpt shapeSource = new Gpt(c, new dev.memwall.rng.Rng(1));
        Map<String, float[]> params = new LinkedHashMap<>(), v = new LinkedHashMap<>();
        Map<String, int[]> shapes = new LinkedHashMap<>();
        shapeSource.namedParameters().forEach((name, t) -> {
            int[] shape = t.shape();
            float[] p = new float[t.numel()], d = new float[t.numel()];
            for (int i = 0; i < p.length; i++) {
                double g = r.nextGaussian();
                double value;
                if (name.endsWith(".bias")) value = 0.1 * g;
                else if (name.startsWith("tok.") || name.startsWith("pos.")) value = 0.5 * g;
                else if (shape.length == 1) value = 1 + 0.2 * g; // layer-norm scale
                else value = g / Math.sqrt(shape[1]);
                p[i] = (float) value;
                d[i] = (float) r.nextGaussian();
            }
            params.put(name, p);
            v.put(name, d);
            shapes.put(name, shape);
        });
        int[][] ids = new int[rows][c.context()], targets = new int[rows][c.context()];
        for (int b = 0; b < rows; b++) {
            for (int i = 0; i < c.context(); i++) {
                ids[b][i] = r.nextInt(c.vocab());
                targets[b][i] = r.nextInt(c.vocab());
            }
        }
        return new Problem(c, ids, targets, params, v, shapes);
    }

    /** Copies the problem's parameter values into {@code model} (flattened or not). */
    public static void load(Gpt model, Problem p) {
        model.namedParameters().forEach((name, t) -> {
            float[] values = p.params().get(name);
            System.arraycopy(values, 0, t.data(), t.offset(), values.length);
        });
    }

    /** The problem's ids and targets as INT32 tensors [rows, context]. */
    public static Tensor[] batch(Problem p) {
        return new Tensor[]{Tensor.ints(flat(p.ids()), p.ids().length, p.config().context()),
                Tensor.ints(flat(p.targets()), p.ids().length, p.config().context())};
    }

    public static Tensor loss(Gpt model, Problem p) {
        Tensor[] b = batch(p);
        return model.loss(b[0], b[1]);
    }

    /** memwall's H·v: g = grad(loss, params, createGraph), then grad(Σ sum(g ⊙ v), params). */
    public static Map<String, float[]> memwall(Gpt model, Problem p) {
        Map<String, Tensor> named = model.namedParameters();
        Tensor[] params = named.values().toArray(new Tensor[0]);
        try (Scope s = Scope.open()) {
            Tensor[] g = Engine.grad(new Tensor[]{loss(model, p)}, params, null, true);
            return secondBackward(named, g, p);
        }
    }

    /** d(Σ_k sum(g_k ⊙ v_k))/d params, by name. */
    public static Map<String, float[]> secondBackward(Map<String, Tensor> named, Tensor[] g, Problem p) {
        Tensor[] params = named.values().toArray(new Tensor[0]);
        Tensor gv = null;
        int k = 0;
        for (String name : named.keySet()) {
            Tensor part = F.sumAll(F.mul(g[k++], Tensor.of(p.v().get(name), p.shapes().get(name))));
            gv = gv == null ? part : F.add(gv, part);
        }
        Tensor[] hv = Engine.grad(new Tensor[]{gv}, params, null, false);
        Map<String, float[]> out = new LinkedHashMap<>();
        k = 0;
        for (String name : named.keySet()) out.put(name, hv[k++].toFloatArray());
        return out;
    }

    /** H·v of the reference loss by [L(θ+εv+h e_j) − L(θ−εv+h e_j) − L(θ+εv−h e_j) + L(θ−εv−h e_j)] / (4hε). */
    public static Map<String, double[]> reference(Problem p) {
        Map<String, double[]> plus = new LinkedHashMap<>(), minus = new LinkedHashMap<>();
        p.params().forEach((name, values) -> {
            float[] dir = p.v().get(name);
            double[] a = new double[values.length], b = new double[values.length];
            for (int i = 0; i < values.length; i++) {
                a[i] = values[i] + EPS * dir[i];
                b[i] = values[i] - EPS * dir[i];
            }
            plus.put(name, a);
            minus.put(name, b);
        });
        ReferenceGpt up = new ReferenceGpt(plus, p.config().heads()), down = new ReferenceGpt(minus, p.config().heads());
        Map<String, double[]> hv = new LinkedHashMap<>();
        for (String name : p.params().keySet()) {
            double[] a = plus.get(name), b = minus.get(name), out = new double[a.length];
            for (int j = 0; j < a.length; j++) {
                double a0 = a[j], b0 = b[j];
                a[j] = a0 + H;
                b[j] = b0 + H;
                double hi = up.meanLoss(p.ids(), p.targets()) - down.meanLoss(p.ids(), p.targets());
                a[j] = a0 - H;
                b[j] = b0 - H;
                double lo = up.meanLoss(p.ids(), p.targets()) - down.meanLoss(p.ids(), p.targets());
                a[j] = a0;
                b[j] = b0;
                out[j] = (hi - lo) / (4 * H * EPS);
            }
            hv.put(name, out);
        }
        return hv;
    }

    /** ||got − ref|| / ||ref|| of every block; a block is compared with its own norm only. */
    public static Map<String, Double> blockErrors(Map<String, float[]> got, Map<String, double[]> ref) {
        Map<String, Double> errors = new LinkedHashMap<>();
        ref.forEach((name, r) -> {
            float[] g = got.get(name);
            if (g == null || g.length != r.length) throw new IllegalArgumentException("no H·v block of the right size for " + name);
            double diff = 0, norm = 0;
            for (int i = 0; i < r.length; i++) {
                diff += (g[i] - r[i]) * (g[i] - r[i]);
                norm += r[i] * r[i];
            }
            if (norm == 0) throw new IllegalStateException("the reference H·v of " + name + " is zero: the problem does not test it");
            errors.put(name, Math.sqrt(diff / norm));
        });
        return errors;
    }

    /** One line per block whose relative error exceeds {@code tol}; empty when every block is within it. */
    public static List<String> mismatches(Map<String, float[]> got, Map<String, double[]> ref, double tol) {
        List<String> bad = new ArrayList<>();
        blockErrors(got, ref).forEach((name, e) -> {
            if (!(e <= tol)) bad.add(String.format("%s: relative error %.3g > %.1g", name, e, tol));
        });
        return bad;
    }

    private static int[] flat(int[][] rows) {
        int[] out = new int[rows.length * rows[0].length];
        for (int b = 0; b < rows.length; b++) System.arraycopy(rows[b], 0, out, b * rows[b].length, rows[b].length);
        return out;
    }
}
