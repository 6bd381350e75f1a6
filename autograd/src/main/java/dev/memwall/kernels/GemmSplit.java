package dev.memwall.kernels;

/**
 * How a GEMM is split over the project's kernel threads ({@link Parallel}); the same choice on the staged and the
 * no-copy path. OpenBLAS itself runs single-threaded (see {@link Gemm}).
 */
enum GemmSplit {
    /** Whole batch entries per thread (also a single GEMM too small to split: one entry on the caller). */
    BATCH,
    /** One GEMM, rows of C split over the threads. */
    ROWS,
    /** One GEMM, columns of C split over the threads (wide outputs, e.g. weight gradients [256, 1024]). */
    COLUMNS,
    /**
     * One GEMM split along k into per-thread partial products that are then summed: weight gradients, Aᵀ·B with a
     * long inner dimension and a small output. Splitting the small output instead left each thread a thin slice of C
     * to stream all of A and B against.
     */
    INNER;

    /** Below this many multiply-adds a GEMM is not split. */
    static final long SPLIT_WORK = 1L << 21;

    /** Threads a GEMM of this much work is split over. */
    static int parts(long work) {
        return work < SPLIT_WORK ? 1 : Parallel.threads();
    }

    /**
     * The split for a GEMM of {@code parts} parts. Within one GEMM only a batch of one is split; a batch of several
     * entries is always split by entry, even when there are fewer entries than threads.
     */
    static GemmSplit choose(int batch, boolean transA, boolean transB, int m, int n, int k, float beta, int parts) {
        return choose(batch, transA, transB, m, n, k, beta, parts, 4);
    }

    /**
     * Split-K from {@code k >= 2·max(m, n)}: the FP32 rule ({@link Gemm}). Measured at the benchmark model's weight
     * gradients (k = 2048 rows, outputs 768×256, 1024×256 and 256×1024; BENCHMARKS.md, "Linear GEMMs"): each thread's
     * half of k is a product of the whole output's shape, while a row or column split halves a 256-wide side, and
     * OpenBLAS runs narrow panels less efficiently; the partial sums cost one m×n buffer per extra thread and one pass.
     */
    static GemmSplit chooseSgemm(int batch, boolean transA, boolean transB, int m, int n, int k, float beta, int parts) {
        return choose(batch, transA, transB, m, n, k, beta, parts, 2);
    }

    /** The split, taking Aᵀ·B with beta 0 along k when {@code k >= innerRatio · max(m, n)}. */
    private static GemmSplit choose(int batch, boolean transA, boolean transB, int m, int n, int k, float beta, int parts,
                                    int innerRatio) {
        if (batch > 1 || parts == 1) return BATCH;
        if (transA && !transB && k >= (long) innerRatio * Math.max(m, n) && beta == 0f) return INNER;
        return m >= n ? ROWS : COLUMNS;
    }

    /**
     * Adds split-K partial sums (parts 1.., each a dense m×n block of {@code partial}) into C in part order, so the
     * result is the same whatever thread computed which part. Shared by the FP32 and BF16 split-K paths.
     */
    static void addPartials(float[] c, int offC, int ldc, float[] partial, int m, int n, int parts) {
        int size = m * n;
        for (int p = 1; p < parts; p++) {
            for (int i = 0; i < m; i++) {
                int row = offC + i * ldc, from = (p - 1) * size + i * n;
                for (int j = 0; j < n; j++) c[row + j] += partial[from + j];
            }
        }
    }
}
