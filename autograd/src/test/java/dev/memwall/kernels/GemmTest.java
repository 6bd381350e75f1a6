package dev.memwall.kernels;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Every split path of {@link Gemm} (batch, rows of C, columns of C, the inner dimension) and every transpose
 * combination, at sizes large enough to be split, against a plain double-precision loop.
 */
class GemmTest {
    private static float[] random(int n, long seed) {
        float[] x = new float[n];
        long h = seed;
        for (int i = 0; i < n; i++) {
            h = h * 6364136223846793005L + 1442695040888963407L;
            x[i] = ((h >>> 40) & 0xFFFF) / 65536f - 0.5f;
        }
        return x;
    }

    private static void check(int batch, boolean ta, boolean tb, int m, int n, int k, boolean sharedB) {
        int offA = 3, offB = 5, offC = 7;
        float[] a = random(offA + batch * m * k, 1), b = random(offB + (sharedB ? 1 : batch) * k * n, 2);
        float[] c = new float[offC + batch * m * n];
        Gemm.sgemmBatched(batch, ta, tb, m, n, k, 1f, a, offA, m * k, b, offB, sharedB ? 0 : k * n, 0f, c, offC, m * n);
        for (int e = 0; e < batch; e++) {
            int ao = offA + e * m * k, bo = offB + (sharedB ? 0 : e * k * n), co = offC + e * m * n;
            for (int i = 0; i < m; i++) {
                for (int j = 0; j < n; j++) {
                    double s = 0;
                    for (int p = 0; p < k; p++) {
                        double av = ta ? a[ao + p * m + i] : a[ao + i * k + p];
                        double bv = tb ? b[bo + j * k + p] : b[bo + p * n + j];
                        s += av * bv;
                    }
                    assertThat((double) c[co + i * n + j]).as("batch %d ta %s tb %s m %d n %d k %d at %d,%d", batch, ta, tb, m, n, k, i, j)
                            .isCloseTo(s, org.assertj.core.data.Offset.offset(1e-4 * Math.sqrt(k)));
                }
            }
        }
        assertThat(c[offC - 1]).isZero(); // nothing written before the output range
    }

    @Test
    void everySplitAndTransposeMatchesAPlainLoop() {
        for (boolean ta : new boolean[]{false, true}) {
            for (boolean tb : new boolean[]{false, true}) {
                check(1, ta, tb, 300, 120, 90, false);  // rows of C (m >= n)
                check(1, ta, tb, 90, 310, 100, false);  // columns of C (n > m)
                check(1, ta, tb, 40, 50, 1500, false);  // long inner dimension (k split when ta && !tb)
                check(3, ta, tb, 60, 70, 80, false);    // whole batch entries per thread
                check(3, ta, tb, 60, 70, 80, true);     // a shared B across the batch
                check(1, ta, tb, 5, 4, 3, false);       // too small to split
            }
        }
    }
}
