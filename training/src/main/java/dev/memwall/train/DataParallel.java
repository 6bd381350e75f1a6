package dev.memwall.train;

import dev.memwall.data.Batch;
import dev.memwall.nn.FlatParameters;
import dev.memwall.nn.Module;
import dev.memwall.optim.GradClip;
import dev.memwall.optim.Shard;
import dev.memwall.sharding.ProcessGroup;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

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
 *       (one all-reduced scalar), update the shard [r·s, min((r+1)·s, Ψ)), all-gather the parameters;</li>
 *   <li>stage 2: no flat gradient buffer; backward hands each parameter's gradient to {@link GradientBuckets}, which
 *       reduce-scatters bucket by bucket while backward goes on, into this rank's gradient shard; then as stage 1,
 *       over this rank's piece of every bucket;</li>
 *   <li>stage 3: no full parameters between steps either; {@link ParameterShards} gathers each unit (embeddings, a
 *       block, the head) around its forward and again for its backward, reduce-scatters its gradients as soon as its
 *       backward is done, and the rank updates its piece of every unit.</li>
 * </ul>
 * Sums run in rank order (see {@link ProcessGroup}), so every rank ends the step with bitwise the same parameters.
 */
public final class DataParallel {
    private final ProcessGroup group;
    private final ZeroStage stage;
    private final FlatParameters params;
    private final int shard, from, to;
    /** Stage 2's buckets and gradient shard; null at stages 0 and 1. */
    private final GradientBuckets buckets;
    private final Shard owned;
    /** Stage 3's parameter units and shards; null at stages 0 to 2. */
    private final ParameterShards units;
    /** {@code --reduce-dtype}: the gradients' wire and buffer format, null for FP32 (see {@link GradientWire}). */
    private dev.memwall.sharding.HalfFormat reduceFormat;
    /** Stages 1 and 2 under BF16/FP16: the parameter all-gather in the working format ({@link WorkingGather}), or null. */
    private WorkingGather working;

    private DataParallel(ProcessGroup group, ParameterShards units) { // stage 3
        this.group = group;
        this.stage = ZeroStage.STAGE_3;
        this.units = units;
        this.params = units.local();
        this.buckets = null;
        this.owned = units.shard();
        this.shard = params.length();
        this.from = 0;
        this.to = params.length();
    }

    private DataParallel(ProcessGroup group, ZeroStage stage, FlatParameters params, GradientBuckets buckets) {
        this.units = null;
        this.group = group;
        this.stage = stage;
        this.params = params;
        this.buckets = buckets;
        int n = group.worldSize(), r = group.rank(), count = params.count();
        if (buckets != null) {
            shard = params.length() / n;
            owned = buckets.shard(count);
            from = owned.starts().length == 0 ? 0 : owned.starts()[0];
            to = owned.starts().length == 0 ? 0 : owned.starts()[owned.starts().length - 1] + owned.lengths()[owned.starts().length - 1];
            return;
        }
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
        owned = Shard.range(from, to);
    }

    /**
     * Flattens {@code model} for {@code stage} on {@code group}: padded with zeros to N equal shards when the stage
     * shards the optimizer state, unpadded at stage 0.
     */
    public static DataParallel of(Module model, ProcessGroup group, ZeroStage stage) {
        return of(model, group, stage, 0);
    }

    /**
     * As {@link #of(Module, ProcessGroup, ZeroStage)}, with stage 2's gradient buckets of {@code bucketElements}
     * (rounded down to a multiple of N; 0 picks the default: {@link GradientBuckets#DEFAULT_BUCKET_ELEMENTS}, at most
     * 1/{@link GradientBuckets#MIN_BUCKETS} of the flat buffer, so that a small model still has buckets to overlap). At stage 2 the flat gradient
     * buffer is released at once: parameters get no {@code .grad()}, their gradients go to the buckets.
     */
    public static DataParallel of(Module model, ProcessGroup group, ZeroStage stage, int bucketElements) {
        if (bucketElements < 0) throw new IllegalArgumentException("gradient bucket of " + bucketElements + " elements");
        int n = group.worldSize();
        if (stage == ZeroStage.STAGE_3) {
            if (!(model instanceof dev.memwall.nn.Gpt gpt)) {
                throw new IllegalArgumentException("ZeRO stage 3 shards a Gpt's parameter units, not a " + model.getClass().getSimpleName());
            }
            return new DataParallel(group, new ParameterShards(gpt, group)); // the model is not flattened
        }
        FlatParameters flat = model.flatten(stage.shardsOptimizerState() ? n : 1);
        if (stage != ZeroStage.STAGE_2) return new DataParallel(group, stage, flat, null);
        for (var p : model.parameters()) p.grad(null);
        flat.grads().release();
        int size = bucketElements > 0 ? bucketElements
                : Math.min(GradientBuckets.DEFAULT_BUCKET_ELEMENTS, (flat.length() / n + GradientBuckets.MIN_BUCKETS - 1) / GradientBuckets.MIN_BUCKETS * n);
        return new DataParallel(group, stage, flat, new GradientBuckets(model, flat, group, Math.max(n, size)));
    }

    /** A single process (world size 1, stage 0) over already-flattened parameters: no collective runs. */
    static DataParallel single(FlatParameters params) {
        return new DataParallel(ProcessGroup.single(), ZeroStage.STAGE_0, params, null);
    }

    /**
     * The elements this rank's optimizer updates: [{@link #from}, {@link #to}) of both flat buffers at stages 0 and
     * 1; at stage 2 its piece of every gradient bucket, gradients in its own shard array.
     */
    public Shard shard() {
        return owned;
    }

    /**
     * Where each of {@link #shard()}'s segments starts in the unpadded flat layout of all parameters (the layout a
     * checkpoint's ranges use): the shard's own starts, except at stage 3, whose segments index this rank's shard
     * arrays — there segment u starts at unit u's flat start + rank·p_u.
     */
    public int[] flatStarts() {
        if (units == null) return owned.starts().clone();
        int[][] layout = units.unitLayout();
        int[] out = new int[layout.length];
        for (int u = 0; u < layout.length; u++) out[u] = layout[u][0] + group.rank() * layout[u][2];
        return out;
    }

    /**
     * Ψ, the elements that belong to a parameter. At stage 3 the shard arrays hold none of the model's layout, so it
     * is the sum of the layout's entries.
     */
    public int paramCount() {
        if (units == null) return params.count();
        int psi = 0;
        for (var e : params.entries()) psi += e.numel();
        return psi;
    }

    /**
     * Reduces the gradients in {@code format} (16 bits on the wire, FP32 sums: {@link GradientWire}) from the next
     * step at every stage; null returns to FP32.
     */
    public DataParallel reduceFormat(dev.memwall.sharding.HalfFormat format) {
        this.reduceFormat = format;
        if (buckets != null) buckets.reduceFormat(format);
        if (units != null) units.reduceFormat(format);
        return this;
    }

    public dev.memwall.sharding.HalfFormat reduceFormat() {
        return reduceFormat;
    }

    /**
     * Stages 1 and 2: gathers the parameters after each update with the GEMM weights in {@code format} (null: FP32);
     * see {@link WorkingGather}. Ignored at stages 0 and 3 (nothing gathered, or units gathered by {@link ParameterShards}).
     */
    void workingFormat(dev.memwall.sharding.HalfFormat format) {
        if (format == null || !distributed() || units != null || !stage.shardsOptimizerState()) {
            working = null;
            return;
        }
        if (buckets == null) {
            working = WorkingGather.ofShard(group, format, params, shard);
        } else {
            int[][] layout = buckets.layout();
            int[] pieces = new int[layout[0].length];
            for (int k = 0; k < pieces.length; k++) pieces[k] = layout[1][k] / group.worldSize();
            working = WorkingGather.ofBuckets(group, format, params, layout[0], pieces);
        }
    }

    /** The working-format gather of stages 1 and 2, or null. */
    WorkingGather workingGather() {
        return working;
    }

    /** Makes every parameter element exact FP32 on every rank again (a collective when a working gather is active). */
    void restoreMasters() {
        if (working != null) working.restoreMasters();
    }

    /** Stage 2: bytes of its largest gradient bucket; 0 at stages 0 and 1. */
    public long bucketBytes() {
        return buckets == null ? 0 : (long) Float.BYTES * buckets.bucketElements();
    }

    /** Stage 3's parameter units, or null. */
    ParameterShards units() {
        return units;
    }

    /** Stage 2's buckets, or null. */
    GradientBuckets buckets() {
        return buckets;
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

    /** First element of the range this rank's optimizer updates (at stage 2: of its first segment, see {@link #shard}). */
    public int from() {
        return from;
    }

    /** End (exclusive) of the range this rank's optimizer updates (at stage 2: of its last segment). */
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
        if (!distributed() || buckets != null || units != null) return; // stages 2 and 3 reduced during backward
        float[] g = params.grads().whole().data();
        switch (stage) {
            case STAGE_0 -> GradientWire.allReduce(group, reduceFormat, g, 0, params.length());
            case STAGE_1 -> GradientWire.reduceScatter(group, reduceFormat, g, 0, g, group.rank() * shard, shard).await(); // in place
            default -> throw new IllegalStateException(stage + " reduces in backward");
        }
    }

    /**
     * The global gradient norm (before clipping), and, when {@code maxNorm} > 0 and the norm exceeds it, this rank's
     * range scaled by maxNorm / (norm + 1e-6) as {@link GradClip#clipGradNorm} does. Stage 0 computes it from the
     * whole (identical) buffer as a single process does; stage 1 from the shards' squared norms, one all-reduced
     * scalar, so every rank clips with the same factor.
     */
    double clipGradNorm(double maxNorm) {
        if (buckets != null) return clipShard(maxNorm, buckets.shardGradients());
        if (units != null) return clipShard(maxNorm, units.shardGradients());
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

    /** Stages 2 and 3: the norm from every rank's squared norm of its gradient shard. */
    private double clipShard(double maxNorm, float[] g) {
        double local = 0;
        for (int k = 0; k < owned.starts().length; k++) {
            for (int i = owned.gradStarts()[k], end = i + owned.lengths()[k]; i < end; i++) local += (double) g[i] * g[i];
        }
        float[] squares = {(float) local};
        group.allReduce(squares);
        double norm = Math.sqrt(squares[0]);
        if (maxNorm > 0 && norm > maxNorm) {
            float scale = (float) (maxNorm / (norm + 1e-6));
            for (int i = 0; i < g.length; i++) g[i] *= scale;
        }
        return norm;
    }

    /** Before a micro-batch's backward (stage 2: whether its buckets are reduced, i.e. it is the step's last). */
    void beginBackward(boolean lastMicroBatch) {
        if (buckets != null) buckets.beginBackward(lastMicroBatch);
        if (units != null) units.beginBackward();
    }

    /** After a micro-batch's backward (stage 2: after the last, every bucket reduced into the shard). */
    void finishBackward() {
        if (buckets != null) buckets.finishBackward();
        if (units != null) units.finishBackward();
    }

    /** After the update: at stages 1 and 2 every rank receives the other ranks' updated pieces. */
    void gatherParameters() {
        if (working != null) { // stages 1-2 in BF16/FP16: GEMM weights in the working format, the rest exact
            working.gather();
            return;
        }
        if (buckets != null) {
            gatherBuckets();
            return;
        }
        if (units != null) return; // stage 3: parameters stay sharded; each unit is gathered when it next runs
        if (!distributed() || !stage.shardsOptimizerState()) return;
        float[] v = params.values().whole().data();
        group.allGather(v, group.rank() * shard, v, 0, shard); // in place: in is our shard of out
    }

    /**
     * Zeroes the gradients the optimizer's {@code zeroGrad} leaves: outside [from, to) the buffer still holds this
     * rank's unreduced gradients (stage 1), which must not leak into the next step.
     */
    void zeroGradOutsideRange() {
        if (buckets != null) return; // no flat gradient buffer; the shard is all this rank keeps
        if (units != null) {
            units.zeroGradients(); // the padding of each unit's piece too (it received sums of zeros)
            return;
        }
        float[] g = params.grads().whole().data();
        Arrays.fill(g, 0, from, 0f);
        Arrays.fill(g, to, params.length(), 0f);
    }

    /**
     * Every parameter's values in flat order (Ψ floats, padding left out). At stage 3 the parameters are gathered unit
     * by unit, a collective every rank must call; at the other stages a copy of the replicated buffer.
     */
    public float[] parameterValues() {
        if (units != null) return units.gatherAll();
        restoreMasters(); // a collective when other ranks' GEMM weights are held in the working format
        return Arrays.copyOf(params.values().whole().toFloatArray(), params.count());
    }

    /** Starts a step's figures (stage 2's buckets, stage 3's units). */
    void startStep() {
        if (buckets != null) buckets.resetStepFigures();
        if (units != null) units.resetStepFigures();
    }

    /**
     * The share of the overlapped collectives' time during which the training thread was not blocked on them, NaN
     * without such collectives. Stage 2: the gradient reductions (issued in BACKWARD); stage 3: every gather and
     * reduction of forward and backward (all issued ahead of their use).
     */
    double hiddenFraction(dev.memwall.sharding.CommCounters counters) {
        if (buckets != null) return Trainer.hiddenFraction(buckets, counters.phase(dev.memwall.memory.Phase.BACKWARD).nanos());
        if (units == null) return Double.NaN;
        long comm = 0;
        for (var phase : new dev.memwall.memory.Phase[] {dev.memwall.memory.Phase.FORWARD, dev.memwall.memory.Phase.BACKWARD,
                dev.memwall.memory.Phase.RECOMPUTE}) {
            comm += counters.phase(phase).nanos();
        }
        return comm <= 0 ? Double.NaN : Math.max(0, 1 - (double) units.waitNanos() / comm);
    }

    /** Stage 2: one in-place all-gather per bucket, all issued before the first is awaited. */
    private void gatherBuckets() {
        float[] v = params.values().whole().data();
        int[][] layout = buckets.layout();
        List<dev.memwall.sharding.Work> works = new ArrayList<>();
        for (int k = 0; k < layout[0].length; k++) {
            int piece = layout[1][k] / group.worldSize();
            works.add(group.allGatherAsync(v, layout[0][k] + group.rank() * piece, v, layout[0][k], piece));
        }
        for (var w : works) w.await();
    }
}
