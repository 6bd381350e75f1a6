package dev.memwall.train;

import dev.memwall.precision.GradScaler;
import dev.memwall.precision.GradientRanges;

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
        GradientRanges owned = owned(dp);
        scaler.unscale(owned, flag -> {
            if (!dp.distributed()) return flag;
            float[] f = {(float) flag};
            dp.group().allReduce(f);
            return f[0];
        });
        scaler.step(owned, null, update);
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
