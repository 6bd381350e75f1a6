package dev.memwall.kernels;

/**
 * Layer normalization over the last axis of [rows, n]: y = (x - mean) * rstd * w + b.
 *
 * <p>The rows run through {@link KernelBodies}: the scalar body copies each row into a local buffer and normalizes it
 * there (loops over local arrays at one index are what the JIT vectorizes, see {@link Gelu}; the copies stay in L1),
 * the Vector API body reads and writes the arrays in place.
 */
public final class LayerNormKernel {
    private static final KernelBodies K = Vectorization.bodies();

    private LayerNormKernel() {
    }

    /** Writes y and, per row, mean and rstd (what backward needs besides x). w and b may be null. */
    public static void forward(float[] x, int offX, float[] w, int offW, float[] b, int offB, float eps,
                               float[] y, int offY, float[] mean, float[] rstd, int offStat, int rows, int n) {
        Parallel.range(rows, 4L * n, (from, to) ->
                K.layerNormForward(x, offX, w, offW, b, offB, eps, y, offY, mean, rstd, offStat, from, to, n));
    }

    /**
     * dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)) with dxhat = g * w; dw = sum g * xhat; db = sum g.
     * Any of dx, dw, db may be null. Per-chunk partial sums of dw and db are combined in a fixed order, so the result
     * does not depend on timing.
     */
    public static void backward(float[] x, int offX, float[] w, int offW, float[] mean, float[] rstd, int offStat,
                                float[] g, int offG, float[] dx, int offDx, float[] dw, int offDw, float[] db, int offDb,
                                int rows, int n) {
        int chunks = Math.max(1, Math.min(Parallel.threads(), (int) ((long) rows * n * 6 / Parallel.GRAIN)));
        float[][] pw = new float[chunks][], pb = new float[chunks][];
        Parallel.range(chunks, Parallel.GRAIN, (c0, c1) -> {
            for (int c = c0; c < c1; c++) {
                int from = (int) ((long) rows * c / chunks), to = (int) ((long) rows * (c + 1) / chunks);
                float[] lw = new float[n], lb = new float[n];
                K.layerNormBackward(x, offX, w, offW, mean, rstd, offStat, g, offG, dx, offDx, lw, lb, from, to, n);
                pw[c] = lw;
                pb[c] = lb;
            }
        });
        for (int c = 0; c < chunks; c++) {
            for (int j = 0; j < n; j++) {
                if (dw != null) dw[offDw + j] = (c == 0 ? 0f : dw[offDw + j]) + pw[c][j];
                if (db != null) db[offDb + j] = (c == 0 ? 0f : db[offDb + j]) + pb[c][j];
            }
        }
    }
}
