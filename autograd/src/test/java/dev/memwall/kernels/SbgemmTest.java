package dev.memwall.kernels;

import dev.memwall.format.Bf16;
import dev.memwall.format.Overflow;
import dev.memwall.memory.Category;
import dev.memwall.memory.MemoryTracker;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** BF16 GEMM (exact products, FP32 accumulation) against double precision, on every path this build can run. */
class SbgemmTest {
    /** Odd shapes, a shape with one dimension 1, and shapes large enough to be split over two or more threads. */
    private static final int[][] SHAPES = {{1, 1, 1}, {3, 5, 7}, {17, 33, 65}, {1, 40, 9}, {300, 200, 100}, {100, 300, 80}};

    private static List<Sbgemm.Path> paths() {
        List<Sbgemm.Path> paths = new ArrayList<>(List.of(Sbgemm.Path.DECODE));
        if (Sbgemm.nativeMissing() == null) paths.add(Sbgemm.Path.NATIVE);
        if (Sbgemm.kernelMissing() == null) paths.add(Sbgemm.Path.AVX512_BF16);
        return paths;
    }

    @Test
    void everyPathMatchesDoublePrecisionWithTransposesOffsetsAndLeadingDimensions() {
        long seed = 1;
        for (Sbgemm.Path path : paths()) {
            for (int[] s : SHAPES) {
                for (int t = 0; t < 4; t++) {
                    boolean ta = (t & 1) != 0, tb = (t & 2) != 0;
                    SbgemmCall plain = SbgemmReference.call(ta, tb, s[0], s[1], s[2], 1f, 0f, 0, seed++);
                    SbgemmReference.check(path.name(), plain, () -> Sbgemm.run(path, plain));
                    SbgemmCall padded = SbgemmReference.call(ta, tb, s[0], s[1], s[2], -0.75f, 1.5f, 3, seed++);
                    SbgemmReference.check(path.name(), padded, () -> Sbgemm.run(path, padded));
                }
            }
        }
    }

    /** A weight gradient Aᵀ·B with a long inner dimension and beta 0: the shape split along k. */
    @Test
    void aLongInnerDimensionMatchesOnEveryPath() {
        for (Sbgemm.Path path : paths()) {
            SbgemmCall g = SbgemmReference.call(true, false, 64, 48, 1024, 1f, 0f, 2, 7);
            SbgemmReference.check(path.name(), g, () -> Sbgemm.run(path, g));
        }
    }

    /**
     * How the native path splits a call over the kernel threads (rows, columns, or k into partial sums), checked with
     * a Java kernel of sbgemm's contract, so it is tested where OpenBLAS has no sbgemm: one kernel call per thread,
     * the sub-calls cover C exactly, and split-K sums its parts.
     */
    @Test
    void theNativeSplitCoversTheOutputExactly() {
        int[][] split = {{300, 200, 100, 0}, {100, 300, 80, 0}, {64, 48, 1024, 1}}; // rows, columns, inner (Aᵀ·B)
        for (int[] s : split) {
            for (int pad : new int[]{0, 5}) {
                boolean ta = s[3] == 1;
                SbgemmCall g = SbgemmReference.call(ta, false, s[0], s[1], s[2], 1f, 0f, pad, s[0] + pad);
                AtomicInteger calls = new AtomicInteger();
                CriticalSbgemm.Kernel counting = (a1, a2, m, n, k, al, a, oa, la, b, ob, lb, be, c, oc, lc) -> {
                    calls.incrementAndGet();
                    SbgemmReference.javaKernel(a1, a2, m, n, k, al, a, oa, la, b, ob, lb, be, c, oc, lc);
                };
                SbgemmReference.check("split", g, () -> CriticalSbgemm.run(g.validate(), counting));
                assertThat(calls.get()).as("one kernel call per thread for %s", g).isEqualTo(Parallel.threads());
            }
        }
    }

    @Test
    void theDenseEntryPointMultipliesBf16Values() {
        // [1 2; 3 4] · [0.5 -1; 2 0.25] = [4.5 -0.5; 9.5 -2]; all exact in BF16 and FP32.
        short[] a = bf16(1, 2, 3, 4), b = bf16(0.5f, -1, 2, 0.25f);
        float[] c = {9, 9, 9, 9};
        Gemm.sbgemm(false, false, 2, 2, 2, 1f, a, 0, b, 0, 0f, c, 0);
        assertThat(c).containsExactly(4.5f, -0.5f, 9.5f, -2f);
        // Aᵀ·Bᵀ with alpha 2 and beta 1 on the previous C: 2·[1 3; 2 4]·[0.5 2; -1 0.25] + C.
        Gemm.sbgemm(true, true, 2, 2, 2, 2f, a, 0, b, 0, 1f, c, 0);
        assertThat(c).containsExactly(4.5f + 2 * (0.5f - 3), -0.5f + 2 * (2 + 0.75f), 9.5f + 2 * (1 - 4), -2f + 2 * (4 + 1));
        assertThat(Gemm.sbgemmPath()).isEqualTo(Sbgemm.path());
    }

    @Test
    void anEmptyInnerDimensionScalesCAndEmptyOutputsDoNothing() {
        for (Sbgemm.Path path : paths()) {
            float[] c = {1, 2, Float.NaN, 4};
            Sbgemm.run(path, new SbgemmCall(false, false, 2, 2, 0, 1f, new short[0], 0, 1, new short[0], 0, 2, 0.5f, c, 0, 2));
            assertThat(c).containsExactly(0.5f, 1f, Float.NaN, 2f);
            Sbgemm.run(path, new SbgemmCall(false, false, 2, 2, 0, 1f, new short[0], 0, 1, new short[0], 0, 2, 0f, c, 0, 2));
            assertThat(c).as("beta 0 clears C, NaN included").containsExactly(0f, 0f, 0f, 0f);
            float[] untouched = {3};
            Sbgemm.run(path, new SbgemmCall(false, false, 0, 1, 4, 1f, new short[0], 0, 4, new short[4], 0, 1, 0f, untouched, 0, 1));
            assertThat(untouched).containsExactly(3f);
        }
    }

    @Test
    void badArgumentsAreRejectedBeforeAnythingRunsNamingTheOperand() {
        short[] a = new short[6], b = new short[6];
        float[] c = {7, 7, 7, 7};
        assertThatThrownBy(() -> Gemm.sbgemm(false, false, 2, 2, 3, 1f, null, 0, b, 0, 0f, c, 0))
                .isInstanceOf(NullPointerException.class).hasMessageContaining("operand A");
        assertThatThrownBy(() -> Gemm.sbgemm(false, false, -1, 2, 3, 1f, a, 0, b, 0, 0f, c, 0))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("m=-1");
        assertThatThrownBy(() -> Gemm.sbgemm(false, false, 2, 2, 3, 1f, a, 1, b, 0, 0f, c, 0))
                .isInstanceOf(IndexOutOfBoundsException.class).hasMessageContaining("operand A").hasMessageContaining("needs 7");
        assertThatThrownBy(() -> Gemm.sbgemm(false, true, 2, 2, 3, 1f, a, 0, b, -1, 0f, c, 0))
                .isInstanceOf(IndexOutOfBoundsException.class).hasMessageContaining("operand B").hasMessageContaining("negative offset");
        assertThatThrownBy(() -> Gemm.sbgemm(false, false, 2, 2, 3, 1f, a, 0, 2, b, 0, 2, 0f, c, 0, 2))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("operand A: leading dimension 2 < 3");
        assertThatThrownBy(() -> Gemm.sbgemm(false, false, 2, 2, 3, 1f, a, 0, b, 0, 0f, c, 1))
                .isInstanceOf(IndexOutOfBoundsException.class).hasMessageContaining("operand C").hasMessageContaining("array has 4");
        assertThat(c).as("nothing was written").containsExactly(7f, 7f, 7f, 7f);
    }

    /** The decoding path's FP32 copies of A and B are WORKSPACE while held and go with the workspace. */
    @Test
    void theDecodedOperandsAreCountedAsWorkspace() {
        Assumptions.assumeTrue(Gemm.path() == Gemm.Path.CRITICAL, "the staged sgemm adds staging buffers of its own");
        MemoryTracker tracker = new MemoryTracker();
        try (var installed = MemoryTracker.install(tracker)) {
            int m = 8, n = 6, k = 4; // unsplit: no split-K partial sums either
            Sbgemm.run(Sbgemm.Path.DECODE, new SbgemmCall(false, true, m, n, k, 1f, new short[m * k], 0, k,
                    new short[n * k], 0, k, 0f, new float[m * n], 0, n));
            assertThat(tracker.current(Category.WORKSPACE)).isEqualTo(4L * (m * k + k * n));
            Gemm.releaseWorkspace();
            assertThat(tracker.current(Category.WORKSPACE)).isZero();
        }
    }

    private static short[] bf16(float... x) {
        short[] out = new short[x.length];
        for (int i = 0; i < x.length; i++) out[i] = Bf16.fromFloat(x[i], Overflow.NON_SATURATE);
        return out;
    }
}
