package dev.memwall.ops;

import dev.memwall.autograd.Engine;
import dev.memwall.autograd.Scope;
import dev.memwall.autograd.Tensor;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.function.Function;
import java.util.function.ToDoubleFunction;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Test support: seeded random data, central finite differences in double (gradients and Hessian-vector products),
 * norm-wise relative errors, and the two checks every op goes through ({@link #gradCheck}, {@link #hvpCheck}).
 */
final class Fd {
    /** Forward: float op vs double reference, relative error of the whole output vector. */
    static final double FWD_TOL = 1e-5;
    /** Gradient: float backward vs double central differences (h = 1e-6 relative; FD error ~1e-9). */
    static final double GRAD_TOL = 1e-4;
    /** HVP: float double-backward vs double 4-point differences (h = eps = 1e-4; FD error ~1e-7). */
    static final double HVP_TOL = 2e-3;

    /** Absolute norm below which an HVP block counts as zero: above the finite differences' noise (see checkBlocks). */
    static final double BLOCK_FLOOR = 1e-3;

    private static final boolean VERBOSE = Boolean.getBoolean("fd.verbose");

    private Fd() {
    }

    /** How an input is sampled. Values are rounded to float first, so float and double see the same point. */
    enum Dist {
        NORMAL, WIDE, POSITIVE, NONZERO;

        double sample(Random r) {
            double v = switch (this) {
                case NORMAL -> r.nextGaussian();
                case WIDE -> 3 * r.nextGaussian();
                case POSITIVE -> 0.5 + 1.5 * r.nextDouble();
                case NONZERO -> (r.nextBoolean() ? 1 : -1) * (0.5 + 1.5 * r.nextDouble());
            };
            return (float) v;
        }
    }

    /**
     * One op under test: memwall's op on FP32 inputs of {@code shapes}, and its double reference. {@code linear} marks
     * ops that are linear in their inputs jointly (zero Hessian): the HVP check squares their output first.
     */
    record OpCase(String name, Function<Tensor[], Tensor> op, Function<Nd[], Nd> ref, Dist[] dists, int[][] shapes,
                  boolean linear) {
        @Override
        public String toString() {
            return name;
        }
    }

    static double[] sample(Random r, Dist dist, int n) {
        double[] x = new double[n];
        for (int i = 0; i < n; i++) x[i] = dist.sample(r);
        return x;
    }

    static double[] normal(Random r, int n) {
        return sample(r, Dist.NORMAL, n);
    }

    static float[] f(double[] x) {
        float[] r = new float[x.length];
        for (int i = 0; i < x.length; i++) r[i] = (float) x[i];
        return r;
    }

    static double[] d(float[] x) {
        double[] r = new double[x.length];
        for (int i = 0; i < x.length; i++) r[i] = x[i];
        return r;
    }

    static double norm(double[] x) {
        double s = 0;
        for (double v : x) s += v * v;
        return Math.sqrt(s);
    }

    static double dot(double[] a, double[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) s += a[i] * b[i];
        return s;
    }

    /** ||got - ref|| / max(||ref||, floor): relative, or absolute (scaled by floor) when ref is (almost) zero. */
    static double relErr(float[] got, double[] ref, double floor) {
        assertThat(got.length).as("length").isEqualTo(ref.length);
        double diff = 0;
        for (int i = 0; i < ref.length; i++) diff += (got[i] - ref[i]) * (got[i] - ref[i]);
        return Math.sqrt(diff) / Math.max(norm(ref), floor);
    }

    /** The failure message when {@code got} is farther than {@code tol} (relative) from {@code ref}, else null. */
    static String mismatch(String what, float[] got, double[] ref, double tol) {
        return mismatch(what, got, ref, tol, 1e-6);
    }

    static String mismatch(String what, float[] got, double[] ref, double tol, double floor) {
        double e = relErr(got, ref, floor);
        if (VERBOSE) System.out.printf("ERR %-60s %.3g%n", what, e);
        if (e <= tol) return null;
        return String.format("%s: relative error %.3g > %.1g%n got %s%n ref %s", what, e, tol,
                Arrays.toString(Arrays.copyOf(got, Math.min(got.length, 24))), Arrays.toString(Arrays.copyOf(ref, Math.min(ref.length, 24))));
    }

    static void assertClose(String what, float[] got, double[] ref, double tol) {
        String m = mismatch(what, got, ref, tol);
        assertThat(m).as(m).isNull();
    }

    /** Collects mismatches so that one failing check (say the forward) does not hide the others. */
    static void check(List<String> failures, String what, float[] got, double[] ref, double tol) {
        String m = mismatch(what, got, ref, tol);
        if (m != null) failures.add(m);
    }

    /** Central differences with h = hRel * max(1, |x_j|); the step actually taken (after rounding) divides. */
    static double[] gradient(ToDoubleFunction<double[]> f, double[] x0, double hRel) {
        double[] x = x0.clone(), g = new double[x.length];
        for (int j = 0; j < x.length; j++) {
            double h = hRel * Math.max(1, Math.abs(x0[j]));
            x[j] = x0[j] + h;
            double fp = f.applyAsDouble(x), xp = x[j];
            x[j] = x0[j] - h;
            double fm = f.applyAsDouble(x), xm = x[j];
            x[j] = x0[j];
            g[j] = (fp - fm) / (xp - xm);
        }
        return g;
    }

    /** H v by the 4-point mixed difference [f(x+h e_j+εv) - f(x+h e_j-εv) - f(x-h e_j+εv) + f(x-h e_j-εv)] / (4hε). */
    static double[] hvp(ToDoubleFunction<double[]> f, double[] x0, double[] v, double h, double eps) {
        double[] hv = new double[x0.length], x = new double[x0.length];
        for (int j = 0; j < x0.length; j++) {
            double[] s = new double[4];
            int q = 0;
            for (int sj : new int[]{1, -1}) {
                for (int sv : new int[]{1, -1}) {
                    for (int i = 0; i < x.length; i++) x[i] = x0[i] + sv * eps * v[i];
                    x[j] += sj * h;
                    s[q++] = f.applyAsDouble(x);
                }
            }
            hv[j] = (s[0] - s[1] - s[2] + s[3]) / (4 * h * eps);
        }
        return hv;
    }

    static double[] concat(double[]... parts) {
        int n = 0;
        for (double[] p : parts) n += p.length;
        double[] r = new double[n];
        int o = 0;
        for (double[] p : parts) {
            System.arraycopy(p, 0, r, o, p.length);
            o += p.length;
        }
        return r;
    }

    /** Splits a flat vector into Nd's of the given shapes. */
    static Nd[] split(double[] flat, int[][] shapes) {
        Nd[] r = new Nd[shapes.length];
        int o = 0;
        for (int k = 0; k < shapes.length; k++) {
            int n = Nd.numel(shapes[k]);
            r[k] = new Nd(shapes[k], Arrays.copyOfRange(flat, o, o + n));
            o += n;
        }
        return r;
    }

    static Tensor[] tensors(double[][] xs, int[][] shapes) {
        return tensors(xs, shapes, false);
    }

    /**
     * Leaves requiring grad. With {@code atOffset}, each is a view at a nonzero offset into a larger buffer whose other
     * elements are NaN (as parameters that live in a flat buffer are): a kernel ignoring the offset shows up.
     */
    static Tensor[] tensors(double[][] xs, int[][] shapes, boolean atOffset) {
        Tensor[] t = new Tensor[xs.length];
        for (int k = 0; k < xs.length; k++) {
            if (!atOffset) {
                t[k] = Tensor.of(f(xs[k]), shapes[k]).requiresGrad(true);
                continue;
            }
            int off = 3 + 2 * k;
            float[] buf = new float[off + xs[k].length + 5];
            Arrays.fill(buf, Float.NaN);
            System.arraycopy(f(xs[k]), 0, buf, off, xs[k].length);
            t[k] = Tensor.view(Tensor.of(buf, buf.length), off, shapes[k]).requiresGrad(true);
        }
        return t;
    }

    static double[][] inputs(OpCase c, Random r) {
        double[][] xs = new double[c.shapes().length][];
        for (int k = 0; k < xs.length; k++) xs[k] = sample(r, c.dists()[k], Nd.numel(c.shapes()[k]));
        return xs;
    }

    /** Forward vs reference, then the gradient of L = sum(w ⊙ op(x)) wrt every input vs central differences. */
    static void gradCheck(OpCase c, long seed) {
        gradCheck(c, seed, false);
    }

    static void gradCheck(OpCase c, long seed, boolean atOffset) {
        Random rnd = new Random(seed);
        double[][] xs = inputs(c, rnd);
        Nd ref = c.ref().apply(split(concat(xs), c.shapes()));
        double[] w = normal(rnd, ref.d.length);
        try (Scope s = Scope.open()) {
            Tensor[] ts = tensors(xs, c.shapes(), atOffset);
            Tensor y = c.op().apply(ts);
            assertThat(y.shape()).as(c.name() + " output shape").isEqualTo(ref.shape);
            List<String> failures = new ArrayList<>();
            check(failures, c.name() + " forward", y.toFloatArray(), ref.d, FWD_TOL);
            Tensor[] g = Engine.grad(new Tensor[]{y}, ts, new Tensor[]{Tensor.of(f(w), y.shape())}, false);
            for (int k = 0; k < xs.length; k++) {
                int kk = k;
                double[] gRef = gradient(xk -> {
                    double[][] x2 = xs.clone();
                    x2[kk] = xk;
                    return dot(w, c.ref().apply(split(concat(x2), c.shapes())).d);
                }, xs[k], 1e-6);
                assertThat(g[k].shape()).as(c.name() + " grad shape " + k).isEqualTo(c.shapes()[k]);
                check(failures, c.name() + " gradient wrt input " + k, g[k].toFloatArray(), gRef, GRAD_TOL);
            }
            assertThat(failures).as(String.join("\n", failures)).isEmpty();
        }
    }

    /**
     * For large inputs (where kernels split work over threads): the full forward vs the reference, and the gradient at
     * a few coordinates (both ends, both sides of the middle, random ones) plus one random directional derivative,
     * each against central differences.
     */
    static void gradCheckSampled(OpCase c, long seed) {
        Random rnd = new Random(seed);
        double[][] xs = inputs(c, rnd);
        Nd ref = c.ref().apply(split(concat(xs), c.shapes()));
        double[] w = normal(rnd, ref.d.length);
        List<String> failures = new ArrayList<>();
        try (Scope s = Scope.open()) {
            Tensor[] ts = tensors(xs, c.shapes());
            Tensor y = c.op().apply(ts);
            assertThat(y.shape()).as(c.name() + " output shape").isEqualTo(ref.shape);
            check(failures, c.name() + " forward", y.toFloatArray(), ref.d, FWD_TOL);
            Tensor[] g = Engine.grad(new Tensor[]{y}, ts, new Tensor[]{Tensor.of(f(w), y.shape())}, false);
            for (int k = 0; k < xs.length; k++) {
                int kk = k, n = xs[k].length;
                ToDoubleFunction<double[]> l = xk -> {
                    double[][] x2 = xs.clone();
                    x2[kk] = xk;
                    return dot(w, c.ref().apply(split(concat(x2), c.shapes())).d);
                };
                float[] gk = g[k].toFloatArray();
                int[] at = {0, n / 2 - 1, n / 2, n - 1, rnd.nextInt(n), rnd.nextInt(n), rnd.nextInt(n), rnd.nextInt(n)};
                double[] want = new double[at.length];
                float[] got = new float[at.length];
                double[] x = xs[k].clone();
                for (int j = 0; j < at.length; j++) {
                    double h = 1e-6 * Math.max(1, Math.abs(x[at[j]]));
                    x[at[j]] += h;
                    double fp = l.applyAsDouble(x);
                    x[at[j]] -= 2 * h;
                    double fm = l.applyAsDouble(x);
                    x[at[j]] = xs[k][at[j]];
                    want[j] = (fp - fm) / (2 * h);
                    got[j] = gk[at[j]];
                }
                check(failures, c.name() + " gradient wrt input " + k + " at " + Arrays.toString(at), got, want, GRAD_TOL);
                double[] u = normal(rnd, n), xp = xs[k].clone(), xm = xs[k].clone();
                for (int i = 0; i < n; i++) {
                    xp[i] += 1e-6 * u[i];
                    xm[i] -= 1e-6 * u[i];
                }
                double dir = (l.applyAsDouble(xp) - l.applyAsDouble(xm)) / 2e-6;
                check(failures, c.name() + " directional derivative wrt input " + k, new float[]{(float) dot(d(gk), u)},
                        new double[]{dir}, GRAD_TOL);
            }
        }
        assertThat(failures).as(String.join("\n", failures)).isEmpty();
    }

    /**
     * Hessian-vector product of L = sum(w ⊙ y) (or sum(w ⊙ y²) for linear ops) wrt all inputs jointly, in direction v:
     * memwall by double backward, reference by 4-point differences of the double reference.
     */
    static void hvpCheck(OpCase c, long seed) {
        hvpCheck(c, seed, false);
    }

    static void hvpCheck(OpCase c, long seed, boolean atOffset) {
        Random rnd = new Random(seed);
        double[][] xs = inputs(c, rnd);
        int[][] shapes = c.shapes();
        Nd y0 = c.ref().apply(split(concat(xs), shapes));
        double[] w = normal(rnd, y0.d.length);
        double[][] vs = new double[xs.length][];
        for (int k = 0; k < xs.length; k++) vs[k] = normal(rnd, xs[k].length);
        boolean sq = c.linear();
        double[] ref = hvp(flat -> {
            Nd y = c.ref().apply(split(flat, shapes));
            double s = 0;
            for (int i = 0; i < y.d.length; i++) s += w[i] * (sq ? y.d[i] * y.d[i] : y.d[i]);
            return s;
        }, concat(xs), concat(vs), 1e-4, 1e-4);
        // FD noise is ~1e-8: a reference this far above it makes "memwall returns 0" fail
        assertThat(norm(ref)).as(c.name() + ": reference HVP must not vanish").isGreaterThan(1e-4);
        float[] got = memwallHvp(xs, shapes, vs, ts -> {
            Tensor y = c.op().apply(ts);
            Tensor l = sq ? F.mul(y, y) : y;
            return F.sumAll(F.mul(Tensor.of(f(w), y.shape()), l));
        }, atOffset);
        checkBlocks(c.name() + " HVP", got, ref, xs, HVP_TOL);
    }

    /**
     * Compares a vector that is the concatenation of per-input blocks block by block, each against its own norm, so
     * that an error confined to one input is not diluted by the others. A block whose reference is (near) zero — the
     * bias of a linear op has no second derivative — is held to an absolute error of tol * {@link #BLOCK_FLOOR}: the
     * floor sits just above the 4-point differences' rounding noise (a few ulp of the loss / (4hε), up to ~7e-7 per
     * entry here), not at a fraction of the whole vector, where a small block could be wrong by its own size and pass.
     */
    static void checkBlocks(String what, float[] got, double[] ref, double[][] blocks, double tol) {
        List<String> failures = new ArrayList<>();
        double floor = BLOCK_FLOOR;
        for (int k = 0, o = 0; k < blocks.length; o += blocks[k].length, k++) {
            String m = mismatch(what + " wrt input " + k, Arrays.copyOfRange(got, o, o + blocks[k].length),
                    Arrays.copyOfRange(ref, o, o + blocks[k].length), tol, floor);
            if (m != null) failures.add(m);
        }
        assertThat(failures).as(String.join("\n", failures)).isEmpty();
    }

    /** Double backward: g = dL/dx with createGraph, then d(sum_k g_k ⊙ v_k)/dx; absent second derivatives are 0. */
    static float[] memwallHvp(double[][] xs, int[][] shapes, double[][] vs, Function<Tensor[], Tensor> loss) {
        return memwallHvp(xs, shapes, vs, loss, false);
    }

    static float[] memwallHvp(double[][] xs, int[][] shapes, double[][] vs, Function<Tensor[], Tensor> loss, boolean atOffset) {
        try (Scope s = Scope.open()) {
            Tensor[] ts = tensors(xs, shapes, atOffset);
            Tensor l = loss.apply(ts);
            Tensor[] g = Engine.grad(new Tensor[]{l}, ts, null, true, true, true);
            Tensor gv = null;
            for (int k = 0; k < ts.length; k++) {
                if (g[k] == null) continue;
                Tensor p = F.sumAll(F.mul(g[k], Tensor.of(f(vs[k]), shapes[k])));
                gv = gv == null ? p : F.add(gv, p);
            }
            if (gv == null || !gv.requiresGrad()) return new float[concat(xs).length]; // no second-order graph: H v = 0
            Tensor[] hv = Engine.grad(new Tensor[]{gv}, ts, null, false, false, true);
            double[][] parts = new double[ts.length][];
            for (int k = 0; k < ts.length; k++) {
                parts[k] = hv[k] == null ? new double[xs[k].length] : d(hv[k].toFloatArray());
                if (hv[k] != null) assertThat(hv[k].shape()).as("hvp shape").isEqualTo(shapes[k]);
            }
            return f(concat(parts));
        }
    }
}
