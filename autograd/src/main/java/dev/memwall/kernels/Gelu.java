package dev.memwall.kernels;

/**
 * GELU, tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), and its derivative.
 *
 * <p>The JIT vectorizes a loop only when it can rule out that the store overlaps a load, and with two float arrays
 * at different offsets it cannot (they might be one array). So the loops index every array with the same offset:
 * directly when the offsets agree (the usual case: activations start at 0), otherwise through a small local block.
 * Vectorized, this kernel is memory-bound; scalar, it was 7× slower (BENCHMARKS.md). With the Vector API
 * ({@link Vectorization}) none of this matters: its loads and stores take any offset.
 */
public final class Gelu {
    public static final float C = 0.7978845608028654f; // sqrt(2/pi)
    public static final float A = 0.044715f;
    static final float HALF_C = 0.5f * C, THREE_HALVES_AC = 1.5f * A * C;
    private static final KernelBodies K = Vectorization.bodies();

    private Gelu() {
    }

    public static void forward(float[] x, int offX, float[] y, int offY, int n) {
        Parallel.range(n, 16, (from, to) -> K.geluForward(x, offX + from, y, offY + from, to - from));
    }

    static void forwardSame(float[] x, float[] y, int from, int to) {
        for (int i = from; i < to; i++) {
            float v = x[i];
            float t = RationalTanh.tanh(C * (v + A * v * v * v));
            y[i] = 0.5f * v * (1f + t);
        }
    }

    /**
     * dx = g * gelu'(x). The scalar body works through local blocks, with the gradient block overwritten in place, so
     * that every array in the loops is indexed alike (see the class comment).
     *
     * <p>The derivative runs as two loops, tanh first and the rest second: fused into one loop the body is larger than
     * C2 unrolls (-XX:LoopUnrollLimit, 60 nodes by default in HotSpot 17), and a loop that is not unrolled is not
     * vectorized either; it ran scalar at 1.3 GFLOP/s, 12× slower than the forward (BENCHMARKS.md, "GELU backward").
     */
    public static void backward(float[] x, int offX, float[] g, int offG, float[] dx, int offDx, int n) {
        Parallel.range(n, 16, (from, to) -> K.geluBackward(x, offX + from, g, offG + from, dx, offDx + from, to - from));
    }

    /** gelu(v) by the formula of {@link #forwardSame}, one value (the tails of the Vector API bodies). */
    static float value(float v) {
        float t = RationalTanh.tanh(C * (v + A * v * v * v));
        return 0.5f * v * (1f + t);
    }

    /** g · gelu'(v) by the formulas of {@link #tanhOfInner} and {@link #scaleByDerivative}, one value. */
    static float gradient(float v, float g) {
        float ti = RationalTanh.tanh(C * (v + A * v * v * v));
        float vc = Math.max(-16f, Math.min(16f, v));
        float d = 0.5f + 0.5f * ti + (1f - ti * ti) * vc * (HALF_C + THREE_HALVES_AC * vc * vc);
        return g * d;
    }

    /** t[i] = tanh(C (x + A x^3)). */
    static void tanhOfInner(float[] x, float[] t, int n) {
        for (int i = 0; i < n; i++) {
            float v = x[i];
            t[i] = RationalTanh.tanh(C * (v + A * v * v * v));
        }
    }

    /**
     * g[i] *= gelu'(x[i]) given t[i] = tanh(C (x + A x^3)): 0.5 (1 + t) + 0.5 x (1 - t^2) C (1 + 3 A x^2), with the
     * constants folded (HALF_C = 0.5 C, THREE_HALVES_AC = 1.5 A C) to keep the loop small. x is clamped to ±16 in the
     * second term: beyond that t = ±1 exactly, so the term is 0, and the clamp keeps x^2 from overflowing to ∞ (0·∞ is
     * NaN) for |x| above 1.8e19.
     */
    static void scaleByDerivative(float[] x, float[] t, float[] g, int n) {
        for (int i = 0; i < n; i++) {
            float v = Math.max(-16f, Math.min(16f, x[i])), ti = t[i];
            float d = 0.5f + 0.5f * ti + (1f - ti * ti) * v * (HALF_C + THREE_HALVES_AC * v * v);
            g[i] = g[i] * d;
        }
    }
}
