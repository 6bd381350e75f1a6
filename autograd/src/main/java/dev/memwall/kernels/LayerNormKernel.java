package dev.memwall.kernels;

/** Layer normalization over the last axis of [rows, n]: y = (x - mean) * rstd * w + b. */
public final class LayerNormKernel {
    private LayerNormKernel() {
    }

    /** Writes y and, per row, mean and rstd (what backward needs besides x). w and b may be null. */
    public static void forward(float[] x, int offX, float[] w, int offW, float[] b, int offB, float eps,
                               float[] y, int offY, float[] mean, float[] rstd, int offStat, int rows, int n) {
        Parallel.range(rows, 4L * n, (from, to) -> {
            for (int r = from; r < to; r++) {
                int xi = offX + r * n, yi = offY + r * n;
                float s = 0f;
                for (int j = 0; j < n; j++) s += x[xi + j];
                float mu = s / n;
                float v = 0f;
                for (int j = 0; j < n; j++) {
                    float d = x[xi + j] - mu;
                    v += d * d;
                }
                float rs = (float) (1.0 / Math.sqrt(v / n + eps));
                mean[offStat + r] = mu;
                rstd[offStat + r] = rs;
                if (w != null && b != null) {
                    for (int j = 0; j < n; j++) y[yi + j] = (x[xi + j] - mu) * rs * w[offW + j] + b[offB + j];
                } else if (w != null) {
                    for (int j = 0; j < n; j++) y[yi + j] = (x[xi + j] - mu) * rs * w[offW + j];
                } else if (b != null) {
                    for (int j = 0; j < n; j++) y[yi + j] = (x[xi + j] - mu) * rs + b[offB + j];
                } else {
                    for (int j = 0; j < n; j++) y[yi + j] = (x[xi + j] - mu) * rs;
                }
            }
        });
    }

    /**
     * dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)) with dxhat = g * w; dw = sum g * xhat; db = sum g.
     * Any of dx, dw, db may be null. Per-chunk partial sums of dw and db are combined in a fixed order.
     */
    public static void backward(float[] x, int offX, float[] w, int offW, float[] mean, float[] rstd, int offStat,
                                float[] g, int offG, float[] dx, int offDx, float[] dw, int offDw, float[] db, int offDb,
                                int rows, int n) {
        int chunks = Math.max(1, Math.min(Parallel.threads(), (int) ((long) rows * n * 6 / Parallel.GRAIN)));
        float[][] pw = new float[chunks][], pb = new float[chunks][];
        Parallel.range(chunks, Parallel.GRAIN, (c0, c1) -> {
            for (int c = c0; c < c1; c++) {
                int from = (int) ((long) rows * c / chunks), to = (int) ((long) rows * (c + 1) / chunks);
                float[] lw = dw != null ? new float[n] : null, lb = db != null ? new float[n] : null;
                float[] dxhat = new float[n];
                for (int r = from; r < to; r++) {
                    int xi = offX + r * n, gi = offG + r * n;
                    float mu = mean[offStat + r], rs = rstd[offStat + r];
                    float s1 = 0f, s2 = 0f;
                    for (int j = 0; j < n; j++) {
                        float xh = (x[xi + j] - mu) * rs;
                        float d = w != null ? g[gi + j] * w[offW + j] : g[gi + j];
                        dxhat[j] = d;
                        s1 += d;
                        s2 += d * xh;
                        if (lw != null) lw[j] += g[gi + j] * xh;
                        if (lb != null) lb[j] += g[gi + j];
                    }
                    if (dx != null) {
                        float m1 = s1 / n, m2 = s2 / n;
                        int di = offDx + r * n;
                        for (int j = 0; j < n; j++) {
                            float xh = (x[xi + j] - mu) * rs;
                            dx[di + j] = rs * (dxhat[j] - m1 - xh * m2);
                        }
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
