package dev.memwall.kernels;

import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The blocked causal attention kernels (query rows in blocks, each block's GEMMs only over the keys it can see) against
 * the full T×T products computed in double precision, at block sizes that divide T, do not, and exceed it; operands
 * at odd offsets inside larger arrays.
 */
class AttentionKernelTest {
    private static final int B = 2, T = 37, H = 3, HD = 7, D = H * HD;
    private static final int[] BLOCKS = {1, 2, 5, 16, 32, T - 1, T, T + 3};

    /** Exact attention of one problem: probabilities, merged output and the gradient with respect to qkv. */
    private record Reference(double[] p, double[] out, double[] dqkv) {
    }

    private static float[] random(Random r, int n, int offset) {
        float[] x = new float[offset + n + 5];
        for (int i = 0; i < n; i++) x[offset + i] = (float) r.nextGaussian();
        return x;
    }

    private static double at(float[] qkv, int off, int b, int i, int part, int h, int c) {
        return qkv[off + (b * T + i) * 3 * D + part * D + h * HD + c];
    }

    /** softmax(mask(q·kᵀ·scale))·v per head with every one of the T×T products, and its vector-Jacobian product. */
    private static Reference reference(float[] qkv, int offQkv, float[] g, int offG, double scale) {
        double[] p = new double[B * H * T * T], out = new double[B * T * D], dqkv = new double[B * T * 3 * D];
        for (int b = 0; b < B; b++) {
            for (int h = 0; h < H; h++) {
                int pp = (b * H + h) * T * T;
                for (int i = 0; i < T; i++) {
                    double max = Double.NEGATIVE_INFINITY;
                    double[] s = new double[T];
                    for (int j = 0; j <= i; j++) {
                        for (int c = 0; c < HD; c++) s[j] += at(qkv, offQkv, b, i, 0, h, c) * at(qkv, offQkv, b, j, 1, h, c);
                        s[j] *= scale;
                        max = Math.max(max, s[j]);
                    }
                    double sum = 0;
                    for (int j = 0; j <= i; j++) sum += Math.exp(s[j] - max);
                    for (int j = 0; j <= i; j++) p[pp + i * T + j] = Math.exp(s[j] - max) / sum;
                    for (int c = 0; c < HD; c++) {
                        double o = 0;
                        for (int j = 0; j <= i; j++) o += p[pp + i * T + j] * at(qkv, offQkv, b, j, 2, h, c);
                        out[(b * T + i) * D + h * HD + c] = o;
                    }
                }
                // backward: dP = dO·vᵀ, dS = scale·P∘(dP − rowsum(dP∘P)), dQ = dS·k, dK = dSᵀ·q, dV = Pᵀ·dO
                for (int i = 0; i < T; i++) {
                    double[] dp = new double[T];
                    double dot = 0;
                    for (int j = 0; j <= i; j++) {
                        for (int c = 0; c < HD; c++) dp[j] += g[offG + (b * T + i) * D + h * HD + c] * at(qkv, offQkv, b, j, 2, h, c);
                        dot += dp[j] * p[pp + i * T + j];
                    }
                    for (int j = 0; j <= i; j++) {
                        double pij = p[pp + i * T + j], ds = scale * pij * (dp[j] - dot);
                        for (int c = 0; c < HD; c++) {
                            double gic = g[offG + (b * T + i) * D + h * HD + c];
                            dqkv[(b * T + i) * 3 * D + h * HD + c] += ds * at(qkv, offQkv, b, j, 1, h, c);
                            dqkv[(b * T + j) * 3 * D + D + h * HD + c] += ds * at(qkv, offQkv, b, i, 0, h, c);
                            dqkv[(b * T + j) * 3 * D + 2 * D + h * HD + c] += pij * gic;
                        }
                    }
                }
            }
        }
        return new Reference(p, out, dqkv);
    }

    private static void assertClose(String what, float[] got, int off, double[] want, double tol) {
        double diff = 0, norm = 0;
        for (int i = 0; i < want.length; i++) {
            diff += (got[off + i] - want[i]) * (got[off + i] - want[i]);
            norm += want[i] * want[i];
        }
        assertThat(norm).as(what + " is not trivially zero").isGreaterThan(1e-6);
        assertThat(Math.sqrt(diff / norm)).as(what + ": relative difference").isLessThan(tol);
    }

    @Test
    void everyBlockSizeComputesTheFullProducts() {
        Random r = new Random(8);
        int offQkv = 3, offP = 5, offOut = 2, offG = 7, offD = 1;
        float[] qkv = random(r, B * T * 3 * D, offQkv), g = random(r, B * T * D, offG);
        float scale = (float) (1 / Math.sqrt(HD));
        Reference ref = reference(qkv, offQkv, g, offG, scale);
        for (int block : BLOCKS) {
            float[] p = new float[offP + B * H * T * T], out = new float[offOut + B * T * D];
            float[] dqkv = new float[offD + B * T * 3 * D];
            java.util.Arrays.fill(p, Float.NaN); // every element must be written, the masked ones as exact zeros
            java.util.Arrays.fill(dqkv, Float.NaN);
            AttentionKernel.probs(qkv, offQkv, p, offP, B, T, H, HD, scale, block);
            AttentionKernel.attend(qkv, offQkv, p, offP, out, offOut, B, T, H, HD, block);
            AttentionKernel.backward(qkv, offQkv, p, offP, g, offG, dqkv, offD, B, T, H, HD, scale, block);
            for (int m = 0; m < B * H; m++) {
                for (int i = 0; i < T; i++) {
                    for (int j = i + 1; j < T; j++) {
                        assertThat(p[offP + (m * T + i) * T + j]).as("block %d: masked p[%d][%d][%d]", block, m, i, j).isEqualTo(0f);
                    }
                }
            }
            assertClose("block " + block + " probabilities", p, offP, ref.p(), 1e-6);
            assertClose("block " + block + " output", out, offOut, ref.out(), 1e-6);
            assertClose("block " + block + " gradient", dqkv, offD, ref.dqkv(), 1e-5);
        }
    }

    @Test
    void scorePairsCountsTheEntriesOfTheBlocksEachQueryRowMultiplies() {
        for (int block : new int[]{1, 3, 32, 200}) {
            for (int t : new int[]{0, 1, 31, 32, 33, 128, 130}) {
                long pairs = 0;
                for (int i = 0; i < t; i++) pairs += Math.min(t, (i / block + 1) * block); // keys [0, end of i's block)
                assertThat(AttentionKernel.scorePairs(t, block)).as("t %d, block %d", t, block).isEqualTo(pairs);
            }
        }
        // at the benchmark's T = 128 with blocks of 32: 5/8 of the full T²
        assertThat(AttentionKernel.scorePairs(128, 32)).isEqualTo(128L * 128 * 5 / 8);
        assertThat(AttentionKernel.scorePairs(128)).isEqualTo(AttentionKernel.scorePairs(128, AttentionKernel.block()));
    }

    @Test
    void aBlockBelowOneRowIsRefused() {
        float[] x = new float[3 * 4 * 6];
        assertThatThrownBy(() -> AttentionKernel.probs(x, 0, new float[2 * 16], 0, 1, 4, 2, 1, 1f, 0))
                .hasMessageContaining("attention block must be >= 1 rows, got 0");
        assertThatThrownBy(() -> AttentionKernel.scorePairs(4, -1)).hasMessageContaining("got -1");
    }
}
