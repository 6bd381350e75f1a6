package dev.memwall.ops;

import dev.memwall.autograd.Engine;
import dev.memwall.autograd.Scope;
import dev.memwall.autograd.Tensor;

import java.util.Arrays;
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

    /** ||got - ref|| / ||ref||, or the absolute error when ref is (almost) zero. */
    static double relErr(float[] got, double[] ref) {
        assertThat(got.length).as("length").isEqualTo(ref.length);
        double diff = 0;
        for (int i = 0; i < ref.length; i++) diff += (got[i] - ref[i]) * (got[i] - ref[i]);
        return Math.sqrt(diff) / Math.max(norm(ref), 1e-6);
    }

    static void assertClose(String what, float[] got, double[] ref, double tol) {
        double e = relErr(got, ref);
        assertThat(e).as("%s: relative error %.3g > %.1g%n got %s%n ref %s", what, e, tol, Arrays.toString(got),
                Arrays.toString(ref)).isLessThanOrEqualTo(tol);
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
        Tensor[] t = new Tensor[xs.length];
        for (int k = 0; k < xs.length; k++) t[k] = Tensor.of(f(xs[k]), shapes[k]).requiresGrad(true);
        return t;
    }

    static double[][] inputs(OpCase c, Random r) {
        double[][] xs = new double[c.shapes().length][];
        for (int k = 0; k < xs.length; k++) xs[k] = sample(r, c.dists()[k], Nd.numel(c.shapes()[k]));
        return xs;
    }

    /** Forward vs reference, then the gradient of L = sum(w ⊙ op(x)) wrt every input vs central differences. */
    static void gradCheck(OpCase c, long seed) {
        Random rnd = new Random(seed);
        double[][] xs = inputs(c, rnd);
        Nd ref = c.ref().apply(split(concat(xs), c.shapes()));
        double[] w = normal(rnd, ref.d.length);
        try (Scope s = Scope.open()) {
            Tensor[] ts = tensors(xs, c.shapes());
            Tensor y = c.op().apply(ts);
            assertThat(y.shape()).as(c.name() + " output shape").isEqualTo(ref.shape);
            assertClose(c.name() + " forward", y.toFloatArray(), ref.d, FWD_TOL);
            Tensor[] g = Engine.grad(new Tensor[]{y}, ts, new Tensor[]{Tensor.of(f(w), y.shape())}, false);
            for (int k = 0; k < xs.length; k++) {
                int kk = k;
                double[] gRef = gradient(xk -> {
                    double[][] x2 = xs.clone();
                    x2[kk] = xk;
                    return dot(w, c.ref().apply(split(concat(x2), c.shapes())).d);
                }, xs[k], 1e-6);
                assertThat(g[k].shape()).as(c.name() + " grad shape " + k).isEqualTo(c.shapes()[k]);
                assertClose(c.name() + " gradient wrt input " + k, g[k].toFloatArray(), gRef, GRAD_TOL);
            }
        }
    }

    /**
     * Hessian-vector product of L = sum(w ⊙ y) (or sum(w ⊙ y²) for linear ops) wrt all inputs jointly, in direction v:
     * memwall by double backward, reference by 4-point differences of the double reference.
     */
    static void hvpCheck(OpCase c, long seed) {
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
        assertThat(norm(ref)).as(c.name() + ": reference HVP must not vanish").isGreaterThan(1e-2);
        float[] got = memwallHvp(xs, shapes, vs, ts -> {
            Tensor y = c.op().apply(ts);
            Tensor l = sq ? F.mul(y, y) : y;
            return F.sumAll(F.mul(Tensor.of(f(w), y.shape()), l));
        });
        assertClose(c.name() + " HVP", got, ref, HVP_TOL);
    }

    /** Double backward: g = dL/dx with createGraph, then d(sum_k g_k ⊙ v_k)/dx; absent second derivatives are 0. */
    static float[] memwallHvp(double[][] xs, int[][] shapes, double[][] vs, Function<Tensor[], Tensor> loss) {
        try (Scope s = Scope.open()) {
            Tensor[] ts = tensors(xs, shapes);
            Tensor l = loss.apply(ts);
            Tensor[] g = Engine.grad(new Tensor[]{l}, ts, null, true, true, true);
            Tensor gv = null;
            for (int k = 0; k < ts.length; k++) {
                if (g[k] == null) continue;
                Tensor p = F.sumAll(F.mul(g[k], Tensor.of(f(vs[k]), shapes[k])));
                gv = gv == null ? p : F.add(gv, p);
            }
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
