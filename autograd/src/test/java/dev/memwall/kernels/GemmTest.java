package dev.memwall.kernels;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.util.Arrays;

import static dev.memwall.kernels.GemmReference.call;
import static dev.memwall.kernels.GemmReference.check;
import static dev.memwall.kernels.GemmReference.paths;
import static dev.memwall.kernels.GemmReference.random;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@link Gemm} on each path this build has (staged; no-copy where its native library was built) against a plain
 * double-precision loop: odd sizes, every transpose combination, operands at offsets inside larger arrays, beta 0 and
 * not, strided rows (leading dimensions), a weight shared across a batch, and every split path.
 */
class GemmTest {
    private static final boolean[] BOTH = {false, true};

    @Test
    void oddSizesEveryTransposeAndBetaAtOffsets() {
        int[] sizes = {1, 7, 17, 65};
        long seed = 1;
        for (Gemm.Path path : paths()) {
            for (boolean ta : BOTH) {
                for (boolean tb : BOTH) {
                    for (int m : sizes) {
                        for (int n : sizes) {
                            for (int k : sizes) {
                                check(path, call(1, ta, tb, m, n, k, 1f, 0f, false, 0, seed++));
                                check(path, call(1, ta, tb, m, n, k, -0.75f, 0.5f, false, 0, seed++));
                            }
                        }
                    }
                }
            }
        }
    }

    @Test
    void stridedRowsAreMultipliedInPlace() {
        long seed = 100;
        for (Gemm.Path path : paths()) {
            for (boolean ta : BOTH) {
                for (boolean tb : BOTH) {
                    check(path, call(1, ta, tb, 17, 7, 65, 1f, 0f, false, 5, seed++));
                    check(path, call(1, ta, tb, 7, 17, 1, 2f, 1f, false, 3, seed++));
                    check(path, call(3, ta, tb, 17, 7, 17, 1f, 0.25f, false, 2, seed++));
                }
            }
        }
    }

    @Test
    void aBatchWithASharedWeight() {
        long seed = 200;
        for (Gemm.Path path : paths()) {
            for (boolean ta : BOTH) {
                for (boolean tb : BOTH) {
                    check(path, call(5, ta, tb, 7, 17, 65, 1f, 0f, true, 0, seed++));
                    check(path, call(5, ta, tb, 7, 17, 65, 1f, 1f, true, 1, seed++));
                }
            }
        }
    }

    /** Each split is taken (checked through {@link GemmSplit#choose}), on both paths, for each transpose pair. */
    @Test
    void everySplitMatchesAPlainLoop() {
        Assumptions.assumeTrue(Parallel.threads() > 1, "splitting needs more than one kernel thread");
        long seed = 300;
        for (Gemm.Path path : paths()) {
            for (boolean ta : BOTH) {
                for (boolean tb : BOTH) {
                    split(path, GemmSplit.ROWS, call(1, ta, tb, 300, 120, 90, 1f, 0f, false, 0, seed++));
                    split(path, GemmSplit.ROWS, call(1, ta, tb, 301, 121, 91, 1f, 0.5f, false, 3, seed++));
                    split(path, GemmSplit.COLUMNS, call(1, ta, tb, 90, 310, 100, 1f, 0f, false, 0, seed++));
                    split(path, GemmSplit.COLUMNS, call(1, ta, tb, 91, 311, 101, 1f, -1f, false, 2, seed++));
                    split(path, ta && !tb ? GemmSplit.INNER : GemmSplit.COLUMNS, call(1, ta, tb, 40, 50, 1500, 1f, 0f, false, 0, seed++));
                    split(path, ta && !tb ? GemmSplit.INNER : GemmSplit.COLUMNS, call(1, ta, tb, 41, 51, 1501, 0.5f, 0f, false, 4, seed++));
                    split(path, GemmSplit.BATCH, call(3, ta, tb, 60, 70, 80, 1f, 0f, false, 0, seed++));
                    split(path, GemmSplit.BATCH, call(3, ta, tb, 60, 70, 80, 1f, 0f, true, 1, seed++));
                }
            }
        }
    }

    private static void split(Gemm.Path path, GemmSplit expected, GemmCall g) {
        int parts = GemmSplit.parts(g.work());
        assertThat(GemmSplit.choose(g.batch(), g.transA(), g.transB(), g.m(), g.n(), g.k(), g.beta(), parts))
                .as("split of %s", g).isEqualTo(expected);
        check(path, g);
    }

    /** A Linear's weight is a view into the flat PARAMETER buffer: the GEMM reads only its range of it. */
    @Test
    void aParameterViewInsideAFlatBuffer() {
        int rows = 33, in = 17, out = 9, offW = 1000;
        float[] flat = random(offW + out * in + 500, 7); // other parameters before and after the weight
        float[] x = random(rows * in, 8);
        for (Gemm.Path path : paths()) {
            check(path, new GemmCall(1, false, true, rows, out, in, 1f, x, 0, in, 0, flat, offW, in, 0, 0f,
                    new float[rows * out], 0, out, 0));
        }
    }

    @Test
    void anEmptyInnerDimensionScalesC() {
        for (Gemm.Path path : paths()) {
            float[] c = {1, 2, 3, 4, 5, 6, 7};
            Gemm.run(path, new GemmCall(1, false, false, 2, 2, 0, 1f, new float[0], 0, 1, 0, new float[0], 0, 2, 0,
                    0.5f, c, 1, 3, 0));
            assertThat(c).containsExactly(1, 1, 1.5f, 4, 2.5f, 3, 7);
            float[] nan = {Float.NaN, Float.NaN};
            Gemm.run(path, new GemmCall(1, false, false, 1, 2, 0, 1f, new float[0], 0, 1, 0, new float[0], 0, 2, 0,
                    0f, nan, 0, 2, 0));
            assertThat(nan).as("beta 0 clears C, NaN included").containsExactly(0f, 0f);
        }
    }

    /**
     * The FP32 path splits the benchmark model's weight gradients (Aᵀ·B, k = 2048 rows) along k from k ≥ 2·max(m, n);
     * the shared rule (the BF16 path's) only from 4·max(m, n). The products stay right in the new range.
     */
    @Test
    void theFp32PathSplitsWeightGradientsAlongKFromTwiceTheLargerSide() {
        for (int[] mn : new int[][]{{768, 256}, {1024, 256}, {256, 1024}}) {
            assertThat(GemmSplit.chooseSgemm(1, true, false, mn[0], mn[1], 2048, 0f, 2)).as("%dx%d", mn[0], mn[1])
                    .isEqualTo(GemmSplit.INNER);
            assertThat(GemmSplit.choose(1, true, false, mn[0], mn[1], 2048, 0f, 2)).isNotEqualTo(GemmSplit.INNER);
        }
        assertThat(GemmSplit.chooseSgemm(1, true, false, 1025, 256, 2048, 0f, 2)).isEqualTo(GemmSplit.ROWS);
        assertThat(GemmSplit.chooseSgemm(1, true, false, 256, 1025, 2048, 0f, 2)).isEqualTo(GemmSplit.COLUMNS);
        assertThat(GemmSplit.chooseSgemm(1, true, false, 768, 256, 2048, 1f, 2)).as("split-K only overwrites").isEqualTo(GemmSplit.ROWS);
        assertThat(GemmSplit.chooseSgemm(1, false, false, 768, 256, 2048, 0f, 2)).isEqualTo(GemmSplit.ROWS);
        long seed = 500;
        for (Gemm.Path path : paths()) {
            check(path, call(1, true, false, 300, 200, 700, 1f, 0f, false, 0, seed++));
            check(path, call(1, true, false, 150, 310, 650, 0.5f, 0f, false, 3, seed++));
        }
    }

    /** Within one GEMM only a batch of one is split: more threads than entries still splits by entry. */
    @Test
    void aSmallBatchIsSplitByEntryEvenWithMoreThreads() {
        assertThat(GemmSplit.choose(3, false, false, 300, 300, 300, 0f, 4)).isEqualTo(GemmSplit.BATCH);
        assertThat(GemmSplit.choose(1, false, false, 300, 300, 300, 0f, 4)).isEqualTo(GemmSplit.ROWS);
        assertThat(GemmSplit.choose(1, true, false, 30, 30, 3000, 0f, 4)).isEqualTo(GemmSplit.INNER);
        assertThat(GemmSplit.choose(1, true, false, 30, 30, 3000, 1f, 4)).as("split-K only overwrites").isEqualTo(GemmSplit.ROWS);
        assertThat(GemmSplit.choose(1, true, false, 30, 30, 3000, 0f, 1)).isEqualTo(GemmSplit.BATCH);
    }

    @Test
    void theDenseOverloadsMatchTheStridedForm() {
        float[] a = random(3 + 7 * 5, 1), b = random(2 + 5 * 4, 2);
        float[] c1 = new float[28], c2 = new float[28];
        Gemm.sgemm(false, false, 7, 4, 5, 1f, a, 3, b, 2, 0f, c1, 0);
        Gemm.sgemm(false, false, 7, 4, 5, 1f, a, 3, 5, b, 2, 4, 0f, c2, 0, 4);
        assertThat(c1).isEqualTo(c2);
        float[] c3 = new float[28];
        Gemm.sgemmBatched(1, false, false, 7, 4, 5, 1f, a, 3, 0, b, 2, 0, 0f, c3, 0, 0);
        assertThat(Arrays.equals(c1, c3)).isTrue();
    }
}
