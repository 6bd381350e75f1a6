package dev.memwall.kernels;

import dev.memwall.kernels.blas.SbgemmCritical;

/**
 * A BF16 GEMM kernel on the heap arrays in place — memwall's AVX512-BF16 kernel ({@link Avx512Sbgemm#kernel}) or
 * OpenBLAS's {@code cblas_sbgemm} ({@link SbgemmCritical}) — split over the project's kernel threads as {@link CriticalGemm} splits an sgemm (OpenBLAS runs single-threaded): rows or
 * columns of C, or, for a weight gradient Aᵀ·B with a long inner dimension, along k into FP32 partial sums
 * ({@link GemmWorkspace#scratch}) added to C in a fixed order.
 *
 * <p>The kernel is a parameter so that the split arithmetic can be tested against a Java kernel where OpenBLAS has no
 * {@code cblas_sbgemm}. Each sub-call is checked against its arrays before the kernel runs.
 */
final class CriticalSbgemm {
    /** One unsplit call, with the signature of {@link SbgemmCritical#memwall_sbgemm}. */
    @FunctionalInterface
    interface Kernel {
        void call(boolean transA, boolean transB, int m, int n, int k, float alpha, short[] a, int offA, int lda,
                  short[] b, int offB, int ldb, float beta, float[] c, int offC, int ldc);
    }

    /** {@code cblas_sbgemm} through the no-copy binding. */
    static final Kernel OPENBLAS = SbgemmCritical::memwall_sbgemm;

    private CriticalSbgemm() {
    }

    /** Runs a validated call with m, n, k all positive. */
    static void run(SbgemmCall g, Kernel kernel) {
        int m = g.m(), n = g.n(), k = g.k();
        int parts = GemmSplit.parts(g.work());
        switch (GemmSplit.choose(1, g.transA(), g.transB(), m, n, k, g.beta(), parts)) {
            case BATCH -> call(g, kernel, m, n, k, g.offA(), g.offB(), g.beta(), g.c(), g.offC(), g.ldc());
            case ROWS -> {
                int rowsPer = (m + parts - 1) / parts;
                Parallel.range(parts, Parallel.GRAIN, (p0, p1) -> {
                    for (int p = p0; p < p1; p++) {
                        int r0 = p * rowsPer, r1 = Math.min(m, r0 + rowsPer);
                        if (r0 >= r1) continue;
                        // op(A) rows r0..r1: rows of A, or columns of A (stored k×m) when transposed.
                        int offA = g.offA() + (g.transA() ? r0 : r0 * g.lda());
                        call(g, kernel, r1 - r0, n, k, offA, g.offB(), g.beta(), g.c(), g.offC() + r0 * g.ldc(), g.ldc());
                    }
                });
            }
            case COLUMNS -> {
                int colsPer = (n + parts - 1) / parts;
                Parallel.range(parts, Parallel.GRAIN, (p0, p1) -> {
                    for (int p = p0; p < p1; p++) {
                        int c0 = p * colsPer, c1 = Math.min(n, c0 + colsPer);
                        if (c0 >= c1) continue;
                        // op(B) columns c0..c1: columns of B (stored k×n), or rows of B (stored n×k) when transposed.
                        int offB = g.offB() + (g.transB() ? c0 * g.ldb() : c0);
                        call(g, kernel, m, c1 - c0, k, g.offA(), offB, g.beta(), g.c(), g.offC() + c0, g.ldc());
                    }
                });
            }
            case INNER -> splitK(g, kernel, parts);
        }
    }

    /** As {@code CriticalGemm.splitK}: part 0 straight into C (beta is 0), parts 1.. into partial sums, then added. */
    private static void splitK(SbgemmCall g, Kernel kernel, int parts) {
        int m = g.m(), n = g.n(), k = g.k(), size = m * n, kPer = (k + parts - 1) / parts;
        float[] partial = GemmWorkspace.forThisThread().scratch(Math.multiplyExact(size, parts - 1));
        Parallel.range(parts, Parallel.GRAIN, (p0, p1) -> {
            for (int p = p0; p < p1; p++) {
                int k0 = p * kPer, k1 = Math.min(k, k0 + kPer);
                if (k0 >= k1) { // more threads than rows of k: this part contributes zeros (never part 0)
                    java.util.Arrays.fill(partial, (p - 1) * size, p * size, 0f);
                    continue;
                }
                // Rows k0..k1 of A (stored k×m) and of B (stored k×n).
                int offA = g.offA() + k0 * g.lda(), offB = g.offB() + k0 * g.ldb();
                if (p == 0) call(g, kernel, m, n, k1 - k0, offA, offB, 0f, g.c(), g.offC(), g.ldc());
                else call(g, kernel, m, n, k1 - k0, offA, offB, 0f, partial, (p - 1) * size, n);
            }
        });
        GemmSplit.addPartials(g.c(), g.offC(), g.ldc(), partial, m, n, parts);
    }

    /** One kernel call on the call's A and B (at the given offsets) into {@code c}; bounds checked first. */
    private static void call(SbgemmCall g, Kernel kernel, int m, int n, int k, int offA, int offB, float beta,
                             float[] c, int offC, int ldc) {
        boolean ta = g.transA(), tb = g.transB();
        long needA = GemmCall.extent(ta ? k : m, ta ? m : k, g.lda());
        long needB = GemmCall.extent(tb ? n : k, tb ? k : n, g.ldb());
        long needC = GemmCall.extent(m, n, ldc);
        if (offA < 0 || offB < 0 || offC < 0 || offA + needA > g.a().length || offB + needB > g.b().length
                || offC + needC > c.length) {
            throw new IllegalStateException("BF16 GEMM sub-call out of bounds: m=" + m + " n=" + n + " k=" + k
                    + " transA=" + ta + " transB=" + tb + " A " + offA + "+" + needA + "/" + g.a().length
                    + " B " + offB + "+" + needB + "/" + g.b().length + " C " + offC + "+" + needC + "/" + c.length);
        }
        kernel.call(ta, tb, m, n, k, g.alpha(), g.a(), offA, g.lda(), g.b(), offB, g.ldb(), beta, c, offC, ldc);
    }
}
