package dev.memwall.train;

/**
 * Unscaling a second-order step's z ⊙ Hz sums under loss scaling. The Hessian-vector product of the scaled loss S·L
 * is S·H·z, so the sums are S times what the optimizer must read, exactly as the gradients are; they are multiplied
 * by the same float reciprocal PyTorch's GradScaler uses for gradients, and an inf or NaN among them is reported,
 * since an overflow in the second backward can happen where the first one did not.
 *
 * <p>The whole array is unscaled and checked. At ZeRO stage 2 the elements a rank does not own hold its unreduced
 * partial sums, which the optimizer never reads; a non-finite partial sum makes the reduced sum non-finite too, so
 * checking them changes no decision that the owning rank would not take anyway.
 */
final class HessianUnscale {
    private HessianUnscale() {
    }

    /** Multiplies {@code sums} by 1/scale in place; returns whether any is inf or NaN afterwards. */
    static boolean unscale(float[] sums, float scale) {
        if (sums == null) throw new IllegalStateException("a Hessian step under loss scaling took no Hessian-vector products");
        float inv = (float) (1.0 / scale); // PyTorch: the reciprocal in double, used as a float
        boolean inf = false;
        for (int i = 0; i < sums.length; i++) {
            float v = sums[i] * inv;
            sums[i] = v;
            if (!Float.isFinite(v)) inf = true;
        }
        return inf;
    }
}
