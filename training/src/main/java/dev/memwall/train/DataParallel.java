package dev.memwall.train;

import dev.memwall.data.Batch;
import dev.memwall.nn.FlatParameters;
import dev.memwall.nn.Module;
import dev.memwall.optim.GradClip;
import dev.memwall.sharding.ProcessGroup;

import java.util.Arrays;

/**
 * The data-parallel part of a training step at one {@link ZeroStage}: which rows of the global batch this rank
 * trains on, which range of the flat buffers it updates, and the collectives that make every rank's result the
 * single-process result on the global batch.
 *
 * <p>Per step ({@link Trainer#step}): each rank runs forward and backward on its rows, the gradient scaled by its
 * share of the global batch's counted targets, so the sum over ranks is the global mean's gradient. Then
 * <ul>
 *   <li>stage 0: all-reduce the whole gradient buffer; every rank clips and updates everything;</li>
 *   <li>stage 1: reduce-scatter the gradients (rank r gets the sum of shard r), clip from the shards' squared norms
 *       (one all-reduced scalar), update the shard [r·s, min((r+1)·s, Ψ)), all-gather the parameters.</li>
 * </ul>
 * Sums run in rank order (see {@link ProcessGroup}), so every rank ends the step with bitwise the same parameters.
 */
public final class DataParallel {
    private final ProcessGroup group;
    private final ZeroStage stage;
    private final FlatParameters params;
    private final int shard, from, to;

    private DataParallel(ProcessGroup group, ZeroStage stage, FlatParameters params) {
        this.group = group;
        this.stage = stage;
        this.params = params;
        int n = group.worldSize(), r = group.rank(), count = params.count();
        if (stage.shardsOptimizerState()) {
            shard = ProcessGroup.shardLength(count, n);
            if (params.length() != (long) shard * n) {
                throw new IllegalArgumentException("flat buffers of " + params.length() + " elements are not " + n
                        + " shards of " + shard + "; flatten with Module.flatten(" + n + ")");
            }
            from = (int) Math.min((long) r * shard, count);
            to = (int) Math.min((long) (r + 1) * shard, count);
        } else {
            shard = params.length();
            from = 0;
            to = params.length();
        }
    }

    /**
     * Flattens {@code model} for {@code stage} on {@code group}: padded with zeros to N equal shards when the stage
     * shards the optimizer state, unpadded at stage 0.
     */
    public static DataParallel of(Module model, ProcessGroup group, ZeroStage stage) {
        return new DataParallel(group, stage, model.flatten(stage.shardsOptimizerState() ? group.worldSize() : 1));
    }

    /** A single process (world size 1, stage 0) over already-flattened parameters: no collective runs. */
    static DataParallel single(FlatParameters params) {
        return new DataParallel(ProcessGroup.single(), ZeroStage.STAGE_0, params);
    }

    public FlatParameters params() {
        return params;
    }

    public ProcessGroup group() {
        return group;
    }

    public ZeroStage stage() {
        return stage;
    }

    /** First element of the range this rank's optimizer updates. */
    public int from() {
        return from;
    }

    /** End (exclusive) of the range this rank's optimizer updates. */
    public int to() {
        return to;
    }

    boolean distributed() {
        return group.worldSize() > 1;
    }

    /**
     * This rank's rows of a global batch: rows [r·b, (r+1)·b) with b = batch / N. A batch that does not split evenly
     * is an error (the ranks would see different numbers of samples than a single process).
     */
    public Batch localRows(Batch global) {
        int n = group.worldSize();
        if (n == 1) return global;
        if (global.batch() % n != 0) {
            throw new IllegalArgumentException("batch " + global.batch() + " does not split evenly over world size " + n
                    + "; use a batch that is a multiple of " + n);
        }
        int rows = global.batch() / n, at = group.rank() * rows * global.context(), len = rows * global.context();
        return new Batch(Arrays.copyOfRange(global.ids(), at, at + len), Arrays.copyOfRange(global.targets(), at, at + len),
                rows, global.context());
    }

    /**
     * This rank's share of the global batch's loss: its counted targets over the global batch's (1/N when no target
     * is ignored). A rank's mean loss times its share, summed over ranks, is the global mean.
     */
    public double share(Batch global, Batch local) {
        if (!distributed()) return 1;
        int all = global.countedTargets();
        return all == 0 ? 1.0 / group.worldSize() : (double) local.countedTargets() / all;
    }

    /** Sums {@code values} over ranks in place (rank order, the same result on every rank). */
    void sumOverRanks(float[] values) {
        if (distributed()) group.allReduce(values);
    }

    /** Sums the ranks' gradients: into the whole buffer at stage 0, into this rank's shard at stage 1. */
    void reduceGradients() {
        if (!distributed()) return;
        float[] g = params.grads().whole().data();
        switch (stage) {
            case STAGE_0 -> group.allReduce(g, 0, params.length());
            case STAGE_1 -> group.reduceScatter(g, 0, g, group.rank() * shard, shard); // in place: out is our shard
        }
    }

    /**
     * The global gradient norm (before clipping), and, when {@code maxNorm} > 0 and the norm exceeds it, this rank's
     * range scaled by maxNorm / (norm + 1e-6) as {@link GradClip#clipGradNorm} does. Stage 0 computes it from the
     * whole (identical) buffer as a single process does; stage 1 from the shards' squared norms, one all-reduced
     * scalar, so every rank clips with the same factor.
     */
    double clipGradNorm(double maxNorm) {
        if (!stage.shardsOptimizerState() || !distributed()) {
            return maxNorm > 0 ? GradClip.clipGradNorm(params, maxNorm) : GradClip.norm(params, 0, params.length());
        }
        double local = GradClip.norm(params, from, to);
        float[] squares = {(float) (local * local)};
        group.allReduce(squares);
        double norm = Math.sqrt(squares[0]);
        if (maxNorm > 0 && norm > maxNorm) {
            float scale = (float) (maxNorm / (norm + 1e-6));
            float[] g = params.grads().whole().data();
            for (int i = from; i < to; i++) g[i] *= scale;
        }
        return norm;
    }

    /** After the update: at stage 1 every rank receives the other ranks' updated shards. */
    void gatherParameters() {
        if (!distributed() || !stage.shardsOptimizerState()) return;
        float[] v = params.values().whole().data();
        group.allGather(v, group.rank() * shard, v, 0, shard); // in place: in is our shard of out
    }

    /**
     * Zeroes the gradients the optimizer's {@code zeroGrad} leaves: outside [from, to) the buffer still holds this
     * rank's unreduced gradients (stage 1), which must not leak into the next step.
     */
    void zeroGradOutsideRange() {
        float[] g = params.grads().whole().data();
        Arrays.fill(g, 0, from, 0f);
        Arrays.fill(g, to, params.length(), 0f);
    }
}
