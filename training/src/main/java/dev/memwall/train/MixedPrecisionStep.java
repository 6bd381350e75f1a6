package dev.memwall.train;

import dev.memwall.precision.GradScaler;
import dev.memwall.precision.GradientRanges;
import dev.memwall.optim.SecondOrder;

/**
 * The loss-scaling part of a training step under data parallelism: unscale the gradients this rank owns (the whole
 * flat buffer, its ZeRO-1 range, or its ZeRO-2 shard), agree with the other ranks whether any of them found inf or
 * NaN — each rank checks only what it owns, so one all-reduced flag (a sum of 0/1 flags, positive exactly when the
 * MAX is 1, DeepSpeed's {@code has_overflow}) decides for all — then clip and update, or skip, and update the scale.
 */
final class MixedPrecisionStep {
    private MixedPrecisionStep() {
    }

    static void unscaleAndStep(GradScaler scaler, DataParallel dp, Runnable update) {
        unscaleAndStep(scaler, dp, null, update);
    }

    /**
     * As {@link #unscaleAndStep(GradScaler, DataParallel, Runnable)}, on a step that also took Hessian-vector products
     * ({@code second} non-null: its summed z ⊙ Hz came from the scaled loss, so they are S·z ⊙ Hz): the sums are
     * unscaled with the gradients and their inf/NaN joins the flag (GradScaler's rule, applied to both), and a skipped
     * step drops them, so the next attempt takes its products afresh.
     */
    static void unscaleAndStep(GradScaler scaler, DataParallel dp, SecondOrder second, Runnable update) {
        GradientRanges owned = owned(dp);
        boolean hessianInf = second != null && scaler.isEnabled() && HessianUnscale.unscale(second.hessianSums(), scaler.scale());
        scaler.unscale(owned, flag -> {
            double mine = Math.max(flag, hessianInf ? 1 : 0);
            if (!dp.distributed()) return mine;
            float[] f = {(float) mine};
            dp.group().allReduce(f);
            return f[0];
        });
        boolean stepped = scaler.step(owned, null, update);
        if (!stepped && second != null) second.discardHessianSums();
        scaler.update();
    }

    private static GradientRanges owned(DataParallel dp) {
        if (dp.buckets() != null) {
            float[] shard = dp.buckets().shardGradients();
            return GradientRanges.of(shard, 0, shard.length);
        }
        float[] g = dp.params().grads().whole().data();
        if (dp.distributed() && dp.stage().shardsOptimizerState()) return GradientRanges.of(g, dp.from(), dp.to());
        return GradientRanges.of(g, 0, dp.params().length());
    }
}
