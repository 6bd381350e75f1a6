package dev.memwall.kernels;

/**
 * Softmax and log-softmax over the last axis of a [rows, n] array, forward and backward; rows split over cores.
 * Exponentials go through {@link FastExp}'s formula (within 2 ulp of {@link Math#exp}); the row loops run through
 * {@link KernelBodies}, so with the Vector API the sums and dot products add in lane order, not left to right.
 */
public final class Softmax {
    private static final KernelBodies K = Vectorization.bodies();

    private Softmax() {
    }

    public static void forward(float[] x, int offX, float[] y, int offY, int rows, int n) {
        Parallel.range(rows, 3L * n, (from, to) -> {
            for (int r = from; r < to; r++) {
                int xi = offX + r * n, yi = offY + r * n;
                float inv = 1f / K.expSum(x, xi, 1f, rowMax(x, xi, n), y, yi, n);
                K.scale(y, yi, n, inv);
            }
        });
    }

    /** dx = y * (g - sum(g * y)). */
    public static void backward(float[] y, int offY, float[] g, int offG, float[] dx, int offDx, int rows, int n) {
        Parallel.range(rows, 3L * n, (from, to) -> {
            for (int r = from; r < to; r++) {
                int yi = offY + r * n, gi = offG + r * n, di = offDx + r * n;
                K.softmaxGrad(y, yi, g, gi, K.dot(g, gi, y, yi, n), 1f, dx, di, n);
            }
        });
    }

    public static void logForward(float[] x, int offX, float[] y, int offY, int rows, int n) {
        Parallel.range(rows, 3L * n, (from, to) -> {
            for (int r = from; r < to; r++) {
                int xi = offX + r * n, yi = offY + r * n;
                float lse = logSumExp(x, xi, n);
                for (int j = 0; j < n; j++) y[yi + j] = x[xi + j] - lse;
            }
        });
    }

    /** dx = g - exp(y) * sum(g). */
    public static void logBackward(float[] y, int offY, float[] g, int offG, float[] dx, int offDx, int rows, int n) {
        Parallel.range(rows, 3L * n, (from, to) -> {
            for (int r = from; r < to; r++) {
                int yi = offY + r * n, gi = offG + r * n, di = offDx + r * n;
                float sum = 0f;
                for (int j = 0; j < n; j++) sum += g[gi + j];
                K.expSum(y, yi, 1f, 0f, dx, di, n); // dx = exp(y) first
                for (int j = 0; j < n; j++) dx[di + j] = g[gi + j] - dx[di + j] * sum;
            }
        });
    }

    public static float rowMax(float[] x, int off, int n) {
        return K.maxScaled(x, off, n, 1f);
    }

    public static float logSumExp(float[] x, int off, int n) {
        float max = rowMax(x, off, n);
        if (max == Float.NEGATIVE_INFINITY) return max;
        return max + (float) Math.log(K.expSum(x, off, 1f, max, null, 0, n));
    }

    /**
     * y = softmax over each row of x·scale with future positions (column > row) masked out, for x of [mats, t, t].
     * Masked entries of y are exactly 0. Only the visible triangle is read, so this costs about half a full softmax.
     */
    public static void causalForward(float[] x, int offX, float[] y, int offY, int mats, int t, float scale) {
        Parallel.range(mats * t, 2L * t, (from, to) -> {
            for (int row = from; row < to; row++) {
                int i = row % t, xi = offX + row * t, yi = offY + row * t;
                float max = K.maxScaled(x, xi, i + 1, scale);
                float inv = 1f / K.expSum(x, xi, scale, max, y, yi, i + 1);
                K.scale(y, yi, i + 1, inv);
                java.util.Arrays.fill(y, yi + i + 1, yi + t, 0f);
            }
        });
    }

    /** dx = scale · y · (g − Σ g·y) over the visible triangle; masked entries of dx are 0. */
    public static void causalBackward(float[] y, int offY, float[] g, int offG, float[] dx, int offDx, int mats, int t, float scale) {
        Parallel.range(mats * t, 2L * t, (from, to) -> {
            for (int row = from; row < to; row++) {
                int i = row % t, yi = offY + row * t, gi = offG + row * t, di = offDx + row * t;
                K.softmaxGrad(y, yi, g, gi, K.dot(g, gi, y, yi, i + 1), scale, dx, di, i + 1);
                java.util.Arrays.fill(dx, di + i + 1, di + t, 0f);
            }
        });
    }
}
