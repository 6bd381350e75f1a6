package dev.memwall.kernels;

/** GELU, tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), and its derivative. */
public final class Gelu {
    public static final float C = 0.7978845608028654f; // sqrt(2/pi)
    public static final float A = 0.044715f;

    private Gelu() {
    }

    public static void forward(float[] x, int offX, float[] y, int offY, int n) {
        Parallel.range(n, 16, (from, to) -> {
            for (int i = from; i < to; i++) {
                float v = x[offX + i];
                float t = Elementwise.tanh(C * (v + A * v * v * v));
                y[offY + i] = 0.5f * v * (1f + t);
            }
        });
    }

    /** dx = g * gelu'(x). */
    public static void backward(float[] x, int offX, float[] g, int offG, float[] dx, int offDx, int n) {
        Parallel.range(n, 16, (from, to) -> {
            for (int i = from; i < to; i++) {
                float v = x[offX + i];
                float t = Elementwise.tanh(C * (v + A * v * v * v));
                float d = 0.5f * (1f + t) + 0.5f * v * (1f - t * t) * C * (1f + 3f * A * v * v);
                dx[offDx + i] = g[offG + i] * d;
            }
        });
    }
}
