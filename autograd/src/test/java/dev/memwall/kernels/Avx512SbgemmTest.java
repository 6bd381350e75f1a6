package dev.memwall.kernels;

import dev.memwall.memory.Category;
import dev.memwall.memory.MemoryTracker;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * memwall's AVX512-BF16 GEMM ({@code memwall_bf16gemm.h}) against double precision ({@link SbgemmReference}: exact
 * BF16 products, FP32 sums). Tolerance per element: (k + 4)·2⁻²⁴·(|alpha|·Σ|a·b| + |beta·c|) + FLT_MIN, the first-order
 * bound of FP32 summation in any order for a sum whose every term passes through at most k + 4 roundings; this kernel
 * sums each block of KC = 512 values of k in order (vdpbf16ps adds the two products of a pair one after the other),
 * scales the block by alpha and adds it to C, so a term sees at most min(k, 512) + ⌈k/512⌉ + 2 ≤ k + 4 roundings. A
 * product rounded to BF16, or a BF16 accumulator, lands ~2⁻⁹ relative away, far outside it.
 *
 * <p>Runs only where the CPU reports AVX512-BF16 and the library is built (else skipped: the kernel would stop the
 * JVM with an illegal instruction on other CPUs, which is why {@link Sbgemm} never calls it there).
 */
class Avx512SbgemmTest {
    @BeforeEach
    void needsTheKernel() {
        Assumptions.assumeTrue(CpuFeatures.avx512Bf16(), "the CPU does not report avx512_bf16");
        Assumptions.assumeTrue(Avx512Sbgemm.missing() == null, () -> "kernel not built: " + Avx512Sbgemm.missing());
    }

    /** One unsplit kernel call, as every part of CriticalSbgemm's split is. */
    private static void kernel(SbgemmCall g) {
        Avx512Sbgemm.kernel(g).call(g.transA(), g.transB(), g.m(), g.n(), g.k(), g.alpha(), g.a(), g.offA(), g.lda(),
                g.b(), g.offB(), g.ldb(), g.beta(), g.c(), g.offC(), g.ldc());
    }

    /**
     * Every transpose combination at odd sizes around the register block (12×32), the pair (odd k) and the cache
     * blocks (96 rows of A, 512 values of k), with alpha/beta, offsets and padded leading dimensions.
     */
    @Test
    void oddShapesEveryTransposeAlphaBetaAndLeadingDimensions() {
        int[] mn = {1, 7, 12, 13, 17, 33, 97, 129};
        int[] ks = {1, 2, 7, 17, 129, 513};
        long seed = 100;
        for (int t = 0; t < 4; t++) {
            boolean ta = (t & 1) != 0, tb = (t & 2) != 0;
            for (int m : mn) {
                for (int n : mn) {
                    for (int k : ks) {
                        if ((long) m * n * k > 300_000) continue; // the double reference is the slow part
                        float alpha = (seed & 1) == 0 ? 1f : -0.75f, beta = seed % 3 == 0 ? 0f : 1.5f;
                        int pad = (int) (seed % 4);
                        SbgemmCall g = SbgemmReference.call(ta, tb, m, n, k, alpha, beta, pad, seed++);
                        SbgemmReference.check("avx512bf16", g, () -> kernel(g.validate()));
                    }
                }
            }
        }
    }

    /** More than one block of k (summed into C across blocks), of rows of A and, with n > 2048, of columns of B. */
    @Test
    void severalCacheBlocksInEveryDimension() {
        int[][] shapes = {{40, 70, 1100, 0, 1}, {200, 45, 600, 1, 0}, {3, 2100, 5, 0, 0}, {5, 2080, 9, 1, 1}};
        for (int[] s : shapes) {
            SbgemmCall g = SbgemmReference.call(s[3] == 1, s[4] == 1, s[0], s[1], s[2], 0.5f, -1f, 2, s[1]);
            SbgemmReference.check("blocks", g, () -> kernel(g.validate()));
        }
    }

    /** With nothing forced, this process's BF16 GEMMs take the kernel (the CPU has AVX512-BF16, the library loads). */
    @Test
    void thisProcessPicksTheKernel() {
        Assumptions.assumeTrue(System.getProperty(Sbgemm.PROPERTY) == null, "a path is forced");
        assertThat(Sbgemm.path()).isEqualTo(Sbgemm.Path.AVX512_BF16);
        assertThat(Avx512Sbgemm.worthIt(128, 128, 64)).as("the attention's GEMMs").isTrue();
        assertThat(Avx512Sbgemm.worthIt(1, 256, 64)).as("GEMV-sized: decode + sgemm").isFalse();
    }

    /** beta 0 does not read C (NaN there stays out), as BLAS; beta 1 adds. */
    @Test
    void betaZeroIgnoresWhatCHeld() {
        SbgemmCall g = SbgemmReference.call(false, false, 13, 33, 9, 1f, 0f, 2, 5);
        for (int i = 0; i < g.m(); i++) for (int j = 0; j < g.n(); j++) g.c()[g.offC() + i * g.ldc() + j] = Float.NaN;
        kernel(g);
        for (int i = 0; i < g.m(); i++) for (int j = 0; j < g.n(); j++) assertThat(g.c()[g.offC() + i * g.ldc() + j]).isNotNaN();
    }

    /** Through {@link Gemm}'s entry point: split over the kernel threads (rows, columns, split-K), same tolerance. */
    @Test
    void theSplitCallsMatchDoublePrecision() {
        int[][] shapes = {{300, 200, 100, 0, 1}, {100, 300, 80, 0, 0}, {64, 48, 1024, 1, 0}, {128, 128, 64, 0, 1}};
        for (int[] s : shapes) {
            SbgemmCall g = SbgemmReference.call(s[3] == 1, s[4] == 1, s[0], s[1], s[2], 1f, 0f, 3, s[0]);
            SbgemmReference.check("split", g, () -> Sbgemm.run(Sbgemm.Path.AVX512_BF16, g));
        }
    }

    /**
     * The packed panels are WORKSPACE in the tracker: one short[] on the calling thread, a slice per part of the split,
     * so releasing the caller's workspace (its outermost scope closing) returns WORKSPACE to zero even when the parts
     * ran on the kernel threads.
     */
    @Test
    void thePackingBuffersAreTheCallersWorkspace() {
        MemoryTracker t = new MemoryTracker();
        try (var installed = MemoryTracker.install(t)) {
            SbgemmCall small = SbgemmReference.call(false, true, 20, 40, 30, 1f, 0f, 0, 9);
            kernel(small);
            long shorts = dev.memwall.kernels.blas.Avx512Bf16Gemm.memwall_bf16gemm_workspace(20, 40, 30);
            assertThat(shorts).as("(12·⌈20/12⌉ + 32·⌈40/32⌉) rows × 30 values of k").isEqualTo((24 + 64) * 30);
            assertThat(t.current(Category.WORKSPACE)).as("unsplit: one part").isEqualTo(2 * shorts);
            Gemm.releaseWorkspace();
            assertThat(t.current(Category.WORKSPACE)).isZero();
            SbgemmCall split = SbgemmReference.call(false, true, 300, 200, 100, 1f, 0f, 0, 10); // split in rows
            Sbgemm.run(Sbgemm.Path.AVX512_BF16, split);
            long perPart = dev.memwall.kernels.blas.Avx512Bf16Gemm.memwall_bf16gemm_workspace(300, 200, 100);
            assertThat(t.current(Category.WORKSPACE)).isEqualTo(2 * perPart * Parallel.threads());
            Gemm.releaseWorkspace();
            assertThat(t.current(Category.WORKSPACE)).as("nothing left on the kernel threads").isZero();
        }
    }
}
