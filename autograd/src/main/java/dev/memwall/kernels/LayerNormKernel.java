package dev.memwall.kernels;

/**
 * Layer normalization over the last axis of [rows, n]: y = (x - mean) * rstd * w + b.
 *
 * <p>Each row is copied into a local buffer and normalized there: loops over local arrays at one index are what the
 * JIT vectorizes (see {@link Gelu}); the copies stay in L1.
 */
public final class LayerNormKernel {
    private LayerNormKernel() {
    }

    /** Writes y and, per row, mean and rstd (what backward needs besides x). w and b may be null. */
    public static void forward(float[] x, int offX, float[] w, int offW, float[] b, int offB, float eps,
                               float[] y, int offY, float[] mean, float[] rstd, int offStat, int rows, int n) {
        Parallel.range(rows, 4L * n, (from, to) -> {
            float[] wl = new float[n], bl = new float[n], row = new float[n];
            if (w != null) System.arraycopy(w, offW, wl, 0, n);
            else java.util.Arrays.fill(wl, 1f);
            if (b != null) System.arraycopy(b, offB, bl, 0, n);
            for (int r = from; r < to; r++) {
                System.arraycopy(x, offX + r * n, row, 0, n);
                float s = 0f;
                for (int j = 0; j < n; j++) s += row[j];
                float mu = s / n;
                float v = 0f;
                for (int j = 0; j < n; j++) {
                    float d = row[j] - mu;
                    v += d * d;
                }
                float rs = (float) (1.0 / Math.sqrt(v / n + eps));
                mean[offStat + r] = mu;
                rstd[offStat + r] = rs;
                for (int j = 0; j < n; j++) row[j] = (row[j] - mu) * rs * wl[j] + bl[j];
                System.arraycopy(row, 0, y, offY + r * n, n);
            }
        });
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
                float[] lw = new float[n], lb = new float[n], wl = new float[n];
                float[] xh = new float[n], gr = new float[n], dxhat = new float[n];
                if (w != null) System.arraycopy(w, offW, wl, 0, n);
                else java.util.Arrays.fill(wl, 1f);
                for (int r = from; r < to; r++) {
                    float mu = mean[offStat + r], rs = rstd[offStat + r];
                    System.arraycopy(x, offX + r * n, xh, 0, n);
                    System.arraycopy(g, offG + r * n, gr, 0, n);
                    for (int j = 0; j < n; j++) xh[j] = (xh[j] - mu) * rs;
                    for (int j = 0; j < n; j++) dxhat[j] = gr[j] * wl[j];
                    for (int j = 0; j < n; j++) lw[j] += gr[j] * xh[j];
                    for (int j = 0; j < n; j++) lb[j] += gr[j];
                    if (dx != null) {
                        float s1 = 0f, s2 = 0f;
                        for (int j = 0; j < n; j++) {
                            s1 += dxhat[j];
                            s2 += dxhat[j] * xh[j];
                        }
                        float m1 = s1 / n, m2 = s2 / n;
                        for (int j = 0; j < n; j++) gr[j] = rs * (dxhat[j] - m1 - xh[j] * m2);
                        System.arraycopy(gr, 0, dx, offDx + r * n, n);
                    }
                }
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
