package dev.memwall.kernels;

import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

/** A GEMM call checked against a plain double-precision triple loop, on every path this build has. */
final class GemmReference {
    private GemmReference() {
    }

    /** The paths to test: staged always, the no-copy one where its native library was built and loads. */
    static List<Gemm.Path> paths() {
        List<Gemm.Path> paths = new ArrayList<>(List.of(Gemm.Path.STAGED));
        if (criticalAvailable()) paths.add(Gemm.Path.CRITICAL);
        return paths;
    }

    static boolean criticalAvailable() {
        Gemm.path(); // loads OpenBLAS first, as in use
        return Gemm.bindingFailure() == null;
    }

    static float[] random(int n, long seed) {
        float[] x = new float[n];
        long h = seed * 0x9E3779B97F4A7C15L + 1;
        for (int i = 0; i < n; i++) {
            h = h * 6364136223846793005L + 1442695040888963407L;
            x[i] = ((h >>> 40) & 0xFFFF) / 65536f - 0.5f;
        }
        return x;
    }

    /**
     * Runs {@code g} on {@code path} and compares every element of its C array with the reference: the entries the
     * call writes against alpha·Σ op(A)·op(B) + beta·C (in double), every other element unchanged. A and B must
     * come back unchanged too.
     */
    static void check(Gemm.Path path, GemmCall g) {
        float[] a0 = g.a().clone(), b0 = g.b().clone(), c0 = g.c().clone();
        double[] want = new double[c0.length];
        boolean[] written = new boolean[c0.length];
        for (int i = 0; i < c0.length; i++) want[i] = c0[i];
        for (int e = 0; e < g.batch(); e++) {
            int ao = g.offA() + e * g.strideA(), bo = g.offB() + e * g.strideB(), co = g.offC() + e * g.strideC();
            for (int i = 0; i < g.m(); i++) {
                for (int j = 0; j < g.n(); j++) {
                    double s = 0;
                    for (int p = 0; p < g.k(); p++) {
                        double av = g.transA() ? a0[ao + p * g.lda() + i] : a0[ao + i * g.lda() + p];
                        double bv = g.transB() ? b0[bo + j * g.ldb() + p] : b0[bo + p * g.ldb() + j];
                        s += av * bv;
                    }
                    int at = co + i * g.ldc() + j;
                    want[at] = g.alpha() * s + (g.beta() == 0f ? 0 : g.beta() * (double) c0[at]);
                    written[at] = true;
                }
            }
        }
        Gemm.run(path, g);
        double tol = 1e-4 * Math.sqrt(g.k() + 1) * Math.max(1, Math.abs(g.alpha())) + 1e-6;
        for (int i = 0; i < c0.length; i++) { // assertions only where something is wrong: this runs for every element
            float got = g.c()[i];
            if (written[i] ? !(Math.abs(got - want[i]) <= tol) : Float.floatToRawIntBits(got) != Float.floatToRawIntBits(c0[i])) {
                if (written[i]) assertThat((double) got).as("%s %s: C[%d]", path, g, i).isCloseTo(want[i], within(tol));
                else assertThat(got).as("%s %s: C[%d] is outside the output and must not change", path, g, i).isEqualTo(c0[i]);
            }
        }
        assertThat(g.a()).as("A is read only").isEqualTo(a0);
        assertThat(g.b()).as("B is read only").isEqualTo(b0);
    }

    /**
     * A call with each operand placed at an offset inside a larger array (rows {@code pad} floats wider than needed
     * when {@code pad > 0}), the rest filled with values that must not be read or written.
     */
    static GemmCall call(int batch, boolean ta, boolean tb, int m, int n, int k, float alpha, float beta,
                         boolean sharedB, int pad, long seed) {
        int lda = (ta ? m : k) + pad, ldb = (tb ? k : n) + pad, ldc = n + pad;
        int strideA = Math.max(1, (int) GemmCall.extent(ta ? k : m, ta ? m : k, lda)) + 3;
        int strideB = sharedB ? 0 : Math.max(1, (int) GemmCall.extent(tb ? n : k, tb ? k : n, ldb)) + 1;
        int strideC = Math.max(1, (int) GemmCall.extent(m, n, ldc)) + 2;
        int offA = 3, offB = 5, offC = 7;
        float[] a = random(offA + batch * strideA + 4, seed), b = random(offB + (sharedB ? 1 : batch) * Math.max(strideB, ldb * (tb ? n : k)) + 4, seed + 1);
        float[] c = random(offC + batch * strideC + 4, seed + 2);
        return new GemmCall(batch, ta, tb, m, n, k, alpha, a, offA, lda, strideA, b, offB, ldb, strideB, beta, c, offC, ldc, strideC);
    }
}
