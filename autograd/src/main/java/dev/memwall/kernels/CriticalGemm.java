package dev.memwall.kernels;

import dev.memwall.kernels.blas.SgemmCritical;

/**
 * The no-copy GEMM: every (split) call hands the heap arrays themselves to {@code cblas_sgemm} through
 * {@link SgemmCritical}, which pins them for the call (a JNI critical region) instead of copying them. Nothing is
 * staged, so the only {@code WORKSPACE} is the split-K partial sums ({@link GemmWorkspace#scratch}, heap).
 *
 * <p>The whole call was validated by {@link GemmCall#validate()}; each sub-call is checked once more against its
 * arrays before the native call, so a mistake in the split arithmetic is an exception rather than a write outside an
 * array.
 */
final class CriticalGemm {
    private CriticalGemm() {
    }

    static void run(GemmCall g, GemmSplit split, int parts) {
        int m = g.m(), n = g.n(), k = g.k();
        switch (split) {
            case BATCH -> Parallel.range(g.batch(), (long) m * n * k, (from, to) -> {
                for (int i = from; i < to; i++) {
                    call(g, m, n, k, g.offA() + i * g.strideA(), g.offB() + i * g.strideB(), g.beta(),
                            g.c(), g.offC() + i * g.strideC(), g.ldc());
                }
            });
            case ROWS -> {
                int rowsPer = (m + parts - 1) / parts;
                Parallel.range(parts, Parallel.GRAIN, (p0, p1) -> {
                    for (int p = p0; p < p1; p++) {
                        int r0 = p * rowsPer, r1 = Math.min(m, r0 + rowsPer);
                        if (r0 >= r1) continue;
                        // op(A) rows r0..r1: rows of A, or columns of A (stored k×m) when transposed.
                        int offA = g.offA() + (g.transA() ? r0 : r0 * g.lda());
                        call(g, r1 - r0, n, k, offA, g.offB(), g.beta(), g.c(), g.offC() + r0 * g.ldc(), g.ldc());
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
                        call(g, m, c1 - c0, k, g.offA(), offB, g.beta(), g.c(), g.offC() + c0, g.ldc());
                    }
                });
            }
            case INNER -> splitK(g, parts);
        }
    }

    /**
     * Part 0 of the inner dimension is multiplied straight into C, parts 1.. into partial sums (m×n each, dense) in
     * this thread's workspace, which are then added to C in a fixed order. Chosen only for Aᵀ·B with beta 0.
     */
    private static void splitK(GemmCall g, int parts) {
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
                if (p == 0) call(g, m, n, k1 - k0, offA, offB, 0f, g.c(), g.offC(), g.ldc());
                else call(g, m, n, k1 - k0, offA, offB, 0f, partial, (p - 1) * size, n);
            }
        });
        GemmSplit.addPartials(g.c(), g.offC(), g.ldc(), partial, m, n, parts);
    }

    /** One cblas_sgemm on the call's A and B (at the given offsets) into {@code c}; bounds checked first. */
    private static void call(GemmCall g, int m, int n, int k, int offA, int offB, float beta, float[] c, int offC, int ldc) {
        boolean ta = g.transA(), tb = g.transB();
        long needA = GemmCall.extent(ta ? k : m, ta ? m : k, g.lda());
        long needB = GemmCall.extent(tb ? n : k, tb ? k : n, g.ldb());
        long needC = GemmCall.extent(m, n, ldc);
        if (offA < 0 || offB < 0 || offC < 0 || offA + needA > g.a().length || offB + needB > g.b().length
                || offC + needC > c.length) {
            throw new IllegalStateException("GEMM sub-call out of bounds: m=" + m + " n=" + n + " k=" + k
                    + " transA=" + ta + " transB=" + tb + " A " + offA + "+" + needA + "/" + g.a().length
                    + " B " + offB + "+" + needB + "/" + g.b().length + " C " + offC + "+" + needC + "/" + c.length);
        }
        SgemmCritical.memwall_sgemm(ta, tb, m, n, k, g.alpha(), g.a(), offA, g.lda(), g.b(), offB, g.ldb(), beta, c, offC, ldc);
    }
}
