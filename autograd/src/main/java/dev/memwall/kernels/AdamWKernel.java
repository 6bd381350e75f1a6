package dev.memwall.kernels;

/**
 * One fused AdamW update over a flat range, PyTorch semantics: decoupled weight decay, bias-corrected moments.
 * Reads p, g, m, v once and writes p, m, v once: 7 floats of traffic per parameter.
 */
public final class AdamWKernel {
    private AdamWKernel() {
    }

    /**
     * @param step 1-based step number, for bias correction
     */
    public static void step(float[] p, int offP, float[] g, int offG, float[] m, int offM, float[] v, int offV, int n,
                            float lr, float beta1, float beta2, float eps, float weightDecay, long step) {
        float bc1 = (float) (1.0 - Math.pow(beta1, step));
        float bc2 = (float) (1.0 - Math.pow(beta2, step));
        float stepSize = lr / bc1;
        float bc2Sqrt = (float) Math.sqrt(bc2);
        float decay = 1f - lr * weightDecay;
        Parallel.range(n, 8, (from, to) -> {
            for (int i = from; i < to; i++) {
                float gi = g[offG + i];
                float mi = beta1 * m[offM + i] + (1f - beta1) * gi;
                float vi = beta2 * v[offV + i] + (1f - beta2) * gi * gi;
                m[offM + i] = mi;
                v[offV + i] = vi;
                float denom = (float) Math.sqrt(vi) / bc2Sqrt + eps;
                p[offP + i] = p[offP + i] * decay - stepSize * mi / denom;
            }
        });
    }
}
