package dev.memwall.kernels;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.SplittableRandom;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The Vector API bodies against the scalar ones, at lengths around every vector boundary (0, 1, one vector ± 1, two,
 * four, long runs with odd tails) and at differing offsets into larger arrays.
 *
 * <p>Tolerances: elementwise results must be bitwise the same (the vector code performs the same float operations in
 * the same order, without fused multiply-add). Sums are reordered (lanes, several accumulators), so a sum may differ
 * by float rounding: within 1e-5 of the sum of the absolute values of its terms (the classic bound for a reordered sum
 * is n·2⁻²⁴ of that; these are far below it); layer norm's output within twice the scalar body's distance from a
 * double-precision layer norm (or 1e-5), and its dx within 1e-5 of the scalar dx's scale.
 *
 * <p>Surefire runs this with {@code -Dmemwall.vector=on}, so {@link Vectorization#bodies()} is the vector
 * implementation at the preferred width; two more executions repeat it at 128 and 256 bits.
 */
class VectorKernelsTest {
    private static final float SUM_TOLERANCE = 1e-5f;
    private static KernelBodies vector, scalar;

    @BeforeAll
    static void bodies() {
        vector = Vectorization.bodies();
        scalar = Vectorization.scalar();
        assertThat(Vectorization.vectorized()).as("the vector bodies are in use: %s", Vectorization.reason()).isTrue();
    }

    private static float[] random(int n, long seed, float spread) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) ((r.nextDouble() - 0.5) * spread);
        return x;
    }

    /** spread-wide random values plus, at a few places, the extremes the kernels clamp. */
    private static float[] withExtremes(int n, long seed, float spread) {
        float[] x = random(n, seed, spread);
        float[] extremes = {30f, -30f, 1e20f, -1e20f, Float.MAX_VALUE, -Float.MAX_VALUE, 0f, -0f};
        for (int i = 0; i < extremes.length && i * 5 + 2 < n; i++) x[i * 5 + 2] = extremes[i];
        return x;
    }

    private static void assertSameBits(float[] actual, float[] expected, String what) {
        for (int i = 0; i < expected.length; i++) {
            if (Float.floatToIntBits(actual[i]) != Float.floatToIntBits(expected[i])) {
                throw new AssertionError(what + ": index " + i + ": vector " + actual[i] + ", scalar " + expected[i]);
            }
        }
    }

    private static void assertSumClose(double actual, double expected, double absSum, String what) {
        assertThat(Math.abs(actual - expected)).as(what).isLessThanOrEqualTo(SUM_TOLERANCE * absSum + 1e-30);
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 1, 7, 8, 9, 15, 16, 17, 31, 33, 1000, 1023, 4097})
    void geluForwardAndBackwardAreBitwiseTheScalarOnes(int n) {
        float[] x = withExtremes(n + 3, n, 12f), g = random(n + 5, n + 1, 2f);
        float[] yv = new float[n + 7], ys = new float[n + 7], dv = new float[n + 1], ds = new float[n + 1];
        vector.geluForward(x, 3, yv, 7, n);
        scalar.geluForward(x, 3, ys, 7, n);
        assertSameBits(yv, ys, "gelu forward");
        vector.geluBackward(x, 3, g, 5, dv, 1, n);
        scalar.geluBackward(x, 3, g, 5, ds, 1, n);
        assertSameBits(dv, ds, "gelu backward");
        // in place: y over x, dx over g
        float[] xv = x.clone(), xs = x.clone(), gv = g.clone(), gs = g.clone();
        vector.geluForward(xv, 3, xv, 3, n);
        scalar.geluForward(xs, 3, xs, 3, n);
        assertSameBits(xv, xs, "gelu forward in place");
        vector.geluBackward(x, 3, gv, 5, gv, 5, n);
        scalar.geluBackward(x, 3, gs, 5, gs, 5, n);
        assertSameBits(gv, gs, "gelu backward in place");
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 7, 8, 9, 15, 16, 17, 31, 33, 1000, 1023, 4097})
    void layerNormMatchesTheScalarBodyWithinRounding(int n) {
        int rows = 4, offX = 3, offY = 5, offStat = 2;
        float[] x = random(offX + rows * n, n, 6f), w = random(n + 1, n + 2, 2f), b = random(n + 2, n + 3, 1f);
        for (int i = 0; i < n; i++) x[offX + n + i] += 100f; // a row far from zero: the mean matters
        for (boolean affine : new boolean[]{true, false}) {
            float[] wx = affine ? w : null, bx = affine ? b : null;
            float[] yv = new float[offY + rows * n], ys = yv.clone();
            float[] mv = new float[offStat + rows], ms = mv.clone(), rv = mv.clone(), rsS = mv.clone();
            vector.layerNormForward(x, offX, wx, 1, bx, 2, 1e-5f, yv, offY, mv, rv, offStat, 1, rows, n);
            scalar.layerNormForward(x, offX, wx, 1, bx, 2, 1e-5f, ys, offY, ms, rsS, offStat, 1, rows, n);
            assertThat(yv[offY]).as("row 0 is outside [from, to)").isZero();
            for (int r = 1; r < rows; r++) {
                assertThat(mv[offStat + r]).isCloseTo(ms[offStat + r], org.assertj.core.data.Offset.offset(1e-5f * (1 + Math.abs(ms[offStat + r]))));
                assertThat(rv[offStat + r]).isCloseTo(rsS[offStat + r], org.assertj.core.data.Percentage.withPercentage(1e-3));
            }
            // a row offset by 100 makes the mean's rounding visible: each body's y against double precision, and the
            // vector body (lane partial sums) within twice the scalar body's (eight partial sums) distance from it, or 1e-5
            double[] ref = layerNormReference(x, offX, wx, bx, rows, n);
            double errV = 0, errS = 0;
            for (int i = n; i < rows * n; i++) {
                errV = Math.max(errV, Math.abs(yv[offY + i] - ref[i]));
                errS = Math.max(errS, Math.abs(ys[offY + i] - ref[i]));
            }
            assertThat(errV).as("layer norm forward, vector against double").isLessThanOrEqualTo(Math.max(2 * errS, 1e-5));

            float[] g = random(3 + rows * n, n + 4, 2f);
            float[] dxv = new float[1 + rows * n], dxs = dxv.clone();
            float[] lwv = random(n, 9, 1f), lws = lwv.clone(), lbv = random(n, 10, 1f), lbs = lbv.clone();
            vector.layerNormBackward(x, offX, wx, 1, ms, rsS, offStat, g, 3, dxv, 1, lwv, lbv, 1, rows, n);
            scalar.layerNormBackward(x, offX, wx, 1, ms, rsS, offStat, g, 3, dxs, 1, lws, lbs, 1, rows, n);
            assertSameBits(lwv, lws, "layer norm weight gradient");
            assertSameBits(lbv, lbs, "layer norm bias gradient");
            assertClose(dxv, dxs, 1e-5f, "layer norm dx");
            float[] lw2 = new float[n], lb2 = new float[n], lw3 = new float[n], lb3 = new float[n];
            vector.layerNormBackward(x, offX, wx, 1, ms, rsS, offStat, g, 3, null, 0, lw2, lb2, 0, rows, n);
            scalar.layerNormBackward(x, offX, wx, 1, ms, rsS, offStat, g, 3, null, 0, lw3, lb3, 0, rows, n);
            assertSameBits(lw2, lw3, "layer norm weight gradient without dx");
        }
    }

    /** y of layer norm (weight 1, bias 0 when null; eps 1e-5) in double precision, rows [0, rows). */
    private static double[] layerNormReference(float[] x, int offX, float[] w, float[] b, int rows, int n) {
        double[] y = new double[rows * n];
        for (int r = 0; r < rows; r++) {
            double mu = 0, var = 0;
            for (int j = 0; j < n; j++) mu += x[offX + r * n + j];
            mu /= n;
            for (int j = 0; j < n; j++) var += Math.pow(x[offX + r * n + j] - mu, 2);
            double rs = 1 / Math.sqrt(var / n + 1e-5);
            for (int j = 0; j < n; j++) {
                y[r * n + j] = (x[offX + r * n + j] - mu) * rs * (w == null ? 1 : w[1 + j]) + (b == null ? 0 : b[2 + j]);
            }
        }
        return y;
    }

    /** |a − b| ≤ tol · (1 + max |b|), element by element. */
    private static void assertClose(float[] a, float[] b, float tol, String what) {
        float scale = 1f;
        for (float v : b) scale = Math.max(scale, Math.abs(v));
        for (int i = 0; i < b.length; i++) {
            if (!(Math.abs(a[i] - b[i]) <= tol * scale)) {
                throw new AssertionError(what + ": index " + i + ": vector " + a[i] + ", scalar " + b[i] + " (scale " + scale + ")");
            }
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 1, 7, 8, 9, 15, 16, 17, 31, 33, 1000, 1023, 4097})
    void adamwIsBitwiseTheScalarUpdate(int n) {
        float[] p = random(n + 1, n, 0.1f), g = random(n + 2, n + 1, 0.05f), m = random(n + 3, n + 2, 0.01f);
        float[] v = random(n + 4, n + 3, 0.001f);
        for (int i = 0; i < v.length; i++) v[i] = Math.abs(v[i]);
        float[] pv = p.clone(), mv = m.clone(), vv = v.clone();
        vector.adamw(pv, 1, g, 2, mv, 3, vv, 4, n, 3e-4f, 0.3f, 0.99997f, 0.9f, 0.1f, 0.95f, 0.05f, 1e-8f);
        scalar.adamw(p, 1, g, 2, m, 3, v, 4, n, 3e-4f, 0.3f, 0.99997f, 0.9f, 0.1f, 0.95f, 0.05f, 1e-8f);
        assertSameBits(pv, p, "adamw p");
        assertSameBits(mv, m, "adamw m");
        assertSameBits(vv, v, "adamw v");
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 1, 7, 8, 9, 15, 16, 17, 31, 33, 1000, 1023, 4097})
    void elementwiseBodiesAreBitwiseTheScalarOnes(int n) {
        float[] a = withExtremes(n + 2, n, 10f), b = random(n + 3, n + 1, 10f);
        float[] ov = new float[n + 4], os = new float[n + 4];
        vector.add(a, 2, b, 3, ov, 4, n);
        scalar.add(a, 2, b, 3, os, 4, n);
        assertSameBits(ov, os, "add");
        vector.mul(a, 2, b, 3, ov, 4, n);
        scalar.mul(a, 2, b, 3, os, 4, n);
        assertSameBits(ov, os, "mul");
        vector.affine(a, 2, -1.5f, 0.25f, ov, 4, n);
        scalar.affine(a, 2, -1.5f, 0.25f, os, 4, n);
        assertSameBits(ov, os, "affine");
        float[] sv = a.clone(), ss = a.clone();
        vector.scale(sv, 2, n, -0.75f);
        scalar.scale(ss, 2, n, -0.75f);
        assertSameBits(sv, ss, "scale");
        float[] accV = b.clone(), accS = b.clone();
        vector.add(accV, 3, a, 2, accV, 3, n);
        scalar.add(accS, 3, a, 2, accS, 3, n);
        assertSameBits(accV, accS, "add in place");
        float[] y = random(n + 1, n + 5, 1f), g = random(n + 2, n + 6, 1f);
        vector.softmaxGrad(y, 1, g, 2, 0.3f, 0.125f, ov, 4, n);
        scalar.softmaxGrad(y, 1, g, 2, 0.3f, 0.125f, os, 4, n);
        assertSameBits(ov, os, "softmax gradient");
        assertThat(vector.maxScaled(a, 2, n, 0.5f)).isEqualTo(scalar.maxScaled(a, 2, n, 0.5f));
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 1, 7, 8, 9, 15, 16, 17, 31, 33, 1000, 1023, 4097})
    void columnSumsAreBitwiseTheScalarOnes(int inner) {
        int len = 5, offX = 3;
        float[] x = random(offX + len * inner, inner, 4f);
        for (int[] range : new int[][]{{0, inner}, {Math.min(1, inner), inner}}) {
            float[] av = random(range[1] - range[0], 7, 1f), as = av.clone();
            vector.columnSums(x, offX, len, inner, range[0], range[1], av);
            scalar.columnSums(x, offX, len, inner, range[0], range[1], as);
            assertSameBits(av, as, "column sums");
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 1, 7, 8, 9, 15, 16, 17, 31, 33, 1000, 1023, 4097})
    void reductionsMatchWithinRounding(int n) {
        float[] a = random(n + 3, n, 8f), b = random(n + 1, n + 1, 8f);
        double absDot = 0, absSquares = 0;
        for (int i = 0; i < n; i++) {
            absDot += Math.abs((double) a[3 + i] * b[1 + i]);
            absSquares += (double) a[3 + i] * a[3 + i];
        }
        assertSumClose(vector.dot(a, 3, b, 1, n), scalar.dot(a, 3, b, 1, n), absDot, "dot");
        // float runs of 1024 added in double: within 1e-6 of the double-precision sum
        assertThat(Math.abs(vector.sumOfSquares(a, 3, n) - scalar.sumOfSquares(a, 3, n))).as("sum of squares")
                .isLessThanOrEqualTo(1e-6 * absSquares);
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 1, 7, 8, 9, 15, 16, 17, 31, 33, 1000, 1023, 4097})
    void expValuesAreBitwiseFastExpsAndTheirSumMatchesWithinRounding(int n) {
        float[] x = random(n + 2, n, 40f); // scaled by 4 below: arguments reach past the clamp at −88
        for (float[] yv : new float[][]{new float[n + 3], null}) {
            float[] ys = yv == null ? null : new float[n + 3];
            float sv = vector.expSum(x, 2, 4f, 30f, yv, 3, n), ss = scalar.expSum(x, 2, 4f, 30f, ys, 3, n);
            if (yv != null) {
                assertSameBits(yv, ys, "exp");
                for (int j = 0; j < n; j++) assertThat(yv[3 + j]).isEqualTo(FastExp.exp(x[2 + j] * 4f - 30f));
            }
            assertSumClose(sv, ss, ss, "exp sum");
        }
    }

    /** FastExp's accuracy contract carries over: every 61st float in [−88, 0] gives FastExp.exp's bits. */
    @Test
    void vectorExpGivesFastExpsBitsOverItsWholeRange() {
        int top = Float.floatToIntBits(88f), count = top / 61;
        float[] x = new float[count];
        for (int i = 0; i < count; i++) x[i] = -Float.intBitsToFloat(i * 61);
        float[] y = new float[count];
        vector.expSum(x, 0, 1f, 0f, y, 0, count);
        for (int i = 0; i < count; i++) {
            if (Float.floatToIntBits(y[i]) != Float.floatToIntBits(FastExp.exp(x[i]))) {
                throw new AssertionError("exp(" + x[i] + "): vector " + y[i] + ", FastExp " + FastExp.exp(x[i]));
            }
        }
    }
}
