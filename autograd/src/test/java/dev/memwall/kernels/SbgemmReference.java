package dev.memwall.kernels;

import dev.memwall.format.Bf16;
import dev.memwall.format.Overflow;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A BF16 GEMM checked against double precision: the inputs are BF16 values (random floats rounded to nearest even),
 * their products are exact in double (and in FP32), and the sum is compared with the error bound of any FP32
 * summation order, (k + 4)·2⁻²⁴·(|alpha|·Σ|a·b| + |beta·c|) — the products must be exact and the accumulation FP32;
 * a product rounded to BF16 or an accumulation in BF16 lands ~2⁻⁹ relative away, far outside it.
 */
final class SbgemmReference {
    private SbgemmReference() {
    }

    static short[] randomBf16(int n, long seed) {
        float[] x = GemmReference.random(n, seed);
        short[] out = new short[n];
        for (int i = 0; i < n; i++) out[i] = Bf16.fromFloat(x[i] * 3f, Overflow.NON_SATURATE);
        return out;
    }

    /**
     * A call with each operand at an offset inside a larger array, rows {@code pad} elements wider than needed, the
     * rest filled with values that must not be read (A, B) or written (C).
     */
    static SbgemmCall call(boolean ta, boolean tb, int m, int n, int k, float alpha, float beta, int pad, long seed) {
        int lda = (ta ? m : k) + pad, ldb = (tb ? k : n) + pad, ldc = n + pad;
        int offA = 3, offB = 5, offC = 7;
        short[] a = randomBf16(offA + (int) GemmCall.extent(ta ? k : m, ta ? m : k, lda) + 4, seed);
        short[] b = randomBf16(offB + (int) GemmCall.extent(tb ? n : k, tb ? k : n, ldb) + 4, seed + 1);
        float[] c = GemmReference.random(offC + (int) GemmCall.extent(m, n, ldc) + 4, seed + 2);
        return new SbgemmCall(ta, tb, m, n, k, alpha, a, offA, lda, b, offB, ldb, beta, c, offC, ldc);
    }

    /** Runs {@code body} (which computes {@code g} into its C) and checks C element by element; A and B unchanged. */
    static void check(String what, SbgemmCall g, Runnable body) {
        short[] a0 = g.a().clone(), b0 = g.b().clone();
        float[] c0 = g.c().clone();
        double[] want = new double[c0.length], bound = new double[c0.length];
        boolean[] written = new boolean[c0.length];
        double u = 0x1p-24;
        for (int i = 0; i < g.m(); i++) {
            for (int j = 0; j < g.n(); j++) {
                double s = 0, abs = 0;
                for (int p = 0; p < g.k(); p++) {
                    double av = Bf16.toFloat(g.transA() ? a0[g.offA() + p * g.lda() + i] : a0[g.offA() + i * g.lda() + p]);
                    double bv = Bf16.toFloat(g.transB() ? b0[g.offB() + j * g.ldb() + p] : b0[g.offB() + p * g.ldb() + j]);
                    s += av * bv;
                    abs += Math.abs(av * bv);
                }
                int at = g.offC() + i * g.ldc() + j;
                double betaC = g.beta() == 0f ? 0 : g.beta() * (double) c0[at];
                want[at] = g.alpha() * s + betaC;
                bound[at] = (g.k() + 4) * u * (Math.abs(g.alpha()) * abs + Math.abs(betaC)) + Float.MIN_NORMAL;
                written[at] = true;
            }
        }
        body.run();
        for (int i = 0; i < c0.length; i++) { // assertions only where something is wrong: this runs for every element
            float got = g.c()[i];
            if (written[i] ? !(Math.abs(got - want[i]) <= bound[i]) : Float.floatToRawIntBits(got) != Float.floatToRawIntBits(c0[i])) {
                if (written[i]) {
                    assertThat((double) got).as("%s %s: C[%d]", what, g, i)
                            .isCloseTo(want[i], org.assertj.core.api.Assertions.within(bound[i]));
                } else {
                    assertThat(got).as("%s %s: C[%d] is outside the output and must not change", what, g, i).isEqualTo(c0[i]);
                }
            }
        }
        assertThat(g.a()).as("A is read only").isEqualTo(a0);
        assertThat(g.b()).as("B is read only").isEqualTo(b0);
    }

    /**
     * A plain Java kernel with {@code cblas_sbgemm}'s contract (exact products, FP32 accumulation), for testing how
     * {@link CriticalSbgemm} splits a call where OpenBLAS has no sbgemm.
     */
    static void javaKernel(boolean ta, boolean tb, int m, int n, int k, float alpha, short[] a, int offA, int lda,
                           short[] b, int offB, int ldb, float beta, float[] c, int offC, int ldc) {
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                float s = 0f;
                for (int p = 0; p < k; p++) {
                    float av = Bf16.toFloat(ta ? a[offA + p * lda + i] : a[offA + i * lda + p]);
                    float bv = Bf16.toFloat(tb ? b[offB + j * ldb + p] : b[offB + p * ldb + j]);
                    s += av * bv;
                }
                int at = offC + i * ldc + j;
                c[at] = alpha * s + (beta == 0f ? 0f : beta * c[at]);
            }
        }
    }
}
