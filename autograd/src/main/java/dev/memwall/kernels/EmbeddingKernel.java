package dev.memwall.kernels;

/** Row gather (embedding lookup) and its adjoint, row scatter-add. */
public final class EmbeddingKernel {
    private EmbeddingKernel() {
    }

    /** out[r] = table[idx[r]] for r in [0, rows); each row has {@code d} elements. Ids are checked against {@code vocab}. */
    public static void gather(float[] table, int offT, int vocab, int d, int[] idx, int offI, int rows, float[] out, int offOut) {
        for (int r = 0; r < rows; r++) {
            int id = idx[offI + r];
            if (id < 0 || id >= vocab) throw new IndexOutOfBoundsException("embedding: id " + id + " at position " + r + " outside [0, " + vocab + ")");
        }
        Parallel.range(rows, d, (from, to) -> {
            for (int r = from; r < to; r++) System.arraycopy(table, offT + idx[offI + r] * d, out, offOut + r * d, d);
        });
    }

    /**
     * out[idx[r]] += g[r]. Columns are split over the cores, so two rows with the same id never race and the
     * summation order (by r) is the same whatever the number of threads: results are deterministic.
     */
    public static void scatterAdd(float[] g, int offG, int[] idx, int offI, int rows, int d, float[] out, int offOut) {
        Parallel.range(d, rows, (c0, c1) -> {
            for (int r = 0; r < rows; r++) {
                int src = offG + r * d, dst = offOut + idx[offI + r] * d;
                for (int c = c0; c < c1; c++) out[dst + c] += g[src + c];
            }
        });
    }
}
