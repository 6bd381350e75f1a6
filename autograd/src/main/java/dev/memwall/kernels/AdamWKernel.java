package dev.memwall.kernels;

/**
 * One fused AdamW update over a flat range, PyTorch semantics: decoupled weight decay, bias-corrected moments.
 * Reads p, g, m, v once and writes p, m, v once: 7 floats of traffic per parameter.
 */
public final class AdamWKernel {
    private static final KernelBodies K = Vectorization.bodies();

    private AdamWKernel() {
    }

    /**
     * Hyper-parameters are doubles and every derived constant is formed in double before rounding once to float, as
     * PyTorch does (1 - 0.999f in float would be off by 5e-5 relative).
     *
     * @param step 1-based step number, for bias correction
     */
    public static void step(float[] p, int offP, float[] g, int offG, float[] m, int offM, float[] v, int offV, int n,
                            double lr, double beta1, double beta2, double eps, double weightDecay, long step) {
        float stepSize = (float) (lr / (1.0 - Math.pow(beta1, step)));
        float bc2Sqrt = (float) Math.sqrt(1.0 - Math.pow(beta2, step));
        float decay = (float) (1.0 - lr * weightDecay);
        float b1 = (float) beta1, b2 = (float) beta2, c1 = (float) (1.0 - beta1), c2 = (float) (1.0 - beta2);
        float epsF = (float) eps;
        Parallel.range(n, 8, (from, to) -> K.adamw(p, offP + from, g, offG + from, m, offM + from, v, offV + from, to - from,
                stepSize, bc2Sqrt, decay, b1, c1, b2, c2, epsF));
    }
}
