package dev.memwall.train;

import dev.memwall.autograd.DType;
import dev.memwall.autograd.Tensor;
import dev.memwall.memory.Category;
import dev.memwall.nn.FlatParameters;
import dev.memwall.nn.Module;
import dev.memwall.optim.Shard;
import dev.memwall.sharding.ProcessGroup;
import dev.memwall.sharding.Work;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * ZeRO stage 2's gradients: reduce-scattered bucket by bucket during backward, as soon as a bucket's parameters all
 * have their final gradient, so the communication thread works while backward goes on (picotron's
 * {@code BucketManager}, FSDP's per-group reduce-scatter); each rank keeps only its piece of every bucket.
 *
 * <p><b>Layout.</b> The padded flat buffer (L = N·s elements) is cut into buckets of {@code bucketElements} (a multiple
 * of N) counted from its end, since backward finishes the last parameters (LM head, last block) first; the first
 * bucket [0, L mod size) takes the rest. A parameter may straddle two buckets; a bucket is complete when every
 * parameter overlapping it has reported. Bucket [b, b + len) is split evenly over ranks FSDP-style: rank r owns flat
 * elements [b + r·len/N, b + (r+1)·len/N), and their summed gradient lands at [b/N, b/N + len/N) of this rank's
 * gradient shard (GRADIENT, L/N floats — the only gradient memory between steps). So the rank's optimizer owns one
 * segment per bucket ({@link #shard}), with gradients in the shard array.
 *
 * <p><b>Lifetime.</b> A bucket's buffer (COMMUNICATION) is allocated when the first of its parameters reports, the
 * parameter's gradient added in; once complete it is handed to an asynchronous reduce-scatter and released as soon as
 * that has finished (checked at every report; with more than {@link #MAX_IN_FLIGHT} issued the oldest is awaited).
 * With several micro-batches the reduction waits for the last one (DDP's {@code no_sync}): earlier micro-batches add
 * into the buckets, which then hold the whole local gradient (4L bytes) until the last backward reduces them.
 * Reports from a backward outside a training step (e.g. the budget planner's profiling runs) are discarded.
 *
 * <p><b>2-byte gradients</b> ({@code --grad-dtype bf16|fp16}, {@link #holdIn}): the shard is held in the low format
 * (2·L/N bytes of GRADIENT) and the FP32 one released. A bucket is then reduce-scattered in place — the sum made in
 * FP32 (or {@code --reduce-dtype}) as always — and rank r's piece rounded once into the 2-byte shard when the bucket
 * is released. Accumulation over micro-batches is unchanged: in the FP32 buckets, exact, so the shard is rounded once
 * per step. For the update the shard is decoded into an FP32 array of L/N floats ({@link #decodedShard}, TEMPORARY).
 */
final class GradientBuckets {
    /** Issued reduce-scatters whose buckets may be alive at once before the oldest is awaited. */
    static final int MAX_IN_FLIGHT = 2;
    /** Default bucket: 1 Mi floats (4 MiB, one round of the shared-memory transport) ... */
    static final int DEFAULT_BUCKET_ELEMENTS = 1 << 20;
    /**
     * ... but at most 1/16 of the flat buffer, so that a small model still has buckets to overlap and the buckets alive
     * at once (in flight plus being filled, about five) stay well under the whole gradient.
     */
    static final int MIN_BUCKETS = 16;

    private final ProcessGroup group;
    private final int n, rank, length;
    private final int[] starts, lengths;   // bucket k = flat [starts[k], starts[k] + lengths[k]); k = 0 is the buffer's end
    private final int[] expected;          // parameters overlapping bucket k
    private final int[][] bucketsOf;       // per parameter (FlatParameters entry order): the buckets it overlaps
    private final int[] offsets, numels;   // per parameter
    private final String[] names;
    private final boolean[] reported;      // per parameter, in the current backward
    private final Tensor[] hooked;         // per parameter, the model's tensor whose hook reports it
    /** Hooks removed for a step that takes the whole gradient into a flat buffer ({@link StageTwoHessian}). */
    private boolean detached;
    private final long[] reports;          // per parameter, every report taken into a bucket since construction
    private final Tensor shardGrads;
    /** {@code --grad-dtype bf16|fp16}: the shard in 2 bytes (null: {@link #shardGrads}), and its FP32 copy for the update. */
    private HalfGradients held;
    private float[] decoded;
    private final Tensor[] buffers;
    private final Work[] works;
    private final int[] left;
    private final ArrayDeque<Integer> inFlight = new ArrayDeque<>();
    private boolean lastMicroBatch = true;
    /** Between a step's first beginBackward and its last finishBackward; reports outside are discarded. */
    private boolean armed;
    private int parametersLeft;
    // per step, for StepStats and tests
    private int issuedInBackward, issuedAfterBackward;
    private int parametersLeftAtFirstIssue = -1;
    private long waitNanos;
    private long liveBucketElements, peakLiveBucketElements;

    GradientBuckets(Module model, FlatParameters params, ProcessGroup group, int bucketElements) {
        this.group = group;
        this.n = group.worldSize();
        this.rank = group.rank();
        this.length = params.length();
        if (length % n != 0) throw new IllegalArgumentException("flat buffers of " + length + " elements are not " + n + " equal shards");
        if (bucketElements < 1) throw new IllegalArgumentException("gradient bucket of " + bucketElements + " elements");
        int size = Math.max(n, bucketElements / n * n);
        List<int[]> bounds = new ArrayList<>();
        for (int end = length; end > 0; end -= size) bounds.add(new int[] {Math.max(0, end - size), end});
        int buckets = bounds.size();
        starts = new int[buckets];
        lengths = new int[buckets];
        for (int k = 0; k < buckets; k++) {
            starts[k] = bounds.get(k)[0];
            lengths[k] = bounds.get(k)[1] - bounds.get(k)[0];
        }
        expected = new int[buckets];
        List<FlatParameters.Entry> entries = params.entries();
        bucketsOf = new int[entries.size()][];
        offsets = new int[entries.size()];
        numels = new int[entries.size()];
        names = new String[entries.size()];
        reported = new boolean[entries.size()];
        reports = new long[entries.size()];
        hooked = new Tensor[entries.size()];
        Map<String, Tensor> named = model.namedParameters();
        for (int p = 0; p < entries.size(); p++) {
            FlatParameters.Entry e = entries.get(p);
            offsets[p] = e.offset();
            numels[p] = e.numel();
            names[p] = e.name();
            List<Integer> mine = new ArrayList<>();
            for (int k = 0; k < buckets; k++) {
                if (e.offset() < starts[k] + lengths[k] && starts[k] < e.offset() + e.numel()) {
                    mine.add(k);
                    expected[k]++;
                }
            }
            bucketsOf[p] = mine.stream().mapToInt(Integer::intValue).toArray();
            Tensor t = named.get(e.name());
            if (t == null) throw new IllegalStateException("flat entry " + e.name() + " is no parameter of the model");
            hooked[p] = t;
            installHook(p);
        }
        shardGrads = Tensor.empty(DType.FP32, Category.GRADIENT, "grad_shard", length / n);
        buffers = new Tensor[buckets];
        works = new Work[buckets];
        left = new int[buckets];
    }

    /** The elements this rank updates: its piece of every bucket, gradients in its shard, padding beyond Ψ left out. */
    Shard shard(int count) {
        int buckets = starts.length;
        int[] s = new int[buckets], l = new int[buckets], g = new int[buckets];
        for (int k = 0; k < buckets; k++) { // ascending flat order: bucket buckets−1 first
            int b = buckets - 1 - k, piece = lengths[b] / n;
            s[k] = starts[b] + rank * piece;
            l[k] = Math.max(0, Math.min(piece, count - s[k]));
            g[k] = starts[b] / n;
        }
        return new Shard(s, l, shardGrads.data(), g);
    }

    /** Elements of this rank's gradient shard: L/N. */
    int shardLength() {
        return length / n;
    }

    /** This rank's FP32 gradient shard: the shard array, or with 2-byte gradients the copy decoded for the update. */
    float[] shardGradients() {
        if (held == null) return shardGrads.data();
        if (decoded == null) throw new IllegalStateException("the " + held.format().label() + " gradient shard is decoded only for the update");
        return decoded;
    }

    /** Holds the shard in {@code shard}'s 2-byte format from now on; the FP32 shard array is released. */
    void holdIn(HalfGradients shard) {
        if (shard.length() != length / n) throw new IllegalArgumentException("a 2-byte shard of " + shard.length() + " elements, the buckets give " + length / n);
        shardGrads.release();
        held = shard;
    }

    /** With 2-byte gradients: the FP32 array the update reads ({@link #shardGradients}), or null after it. */
    void decodedShard(float[] fp32) {
        decoded = fp32;
    }

    int bucketCount() {
        return starts.length;
    }

    private void installHook(int p) {
        hooked[p].onGradientReady(g -> ready(p, g));
    }

    /**
     * Removes every parameter's gradient-ready hook ({@code true}) or puts them back. A step that differentiates the
     * whole gradient again (AdaHessian's Hessian steps, {@link StageTwoHessian}) runs its backwards with createGraph
     * into a flat buffer, which hooks do not allow, and reduces it afterwards with {@link #reduceScatterWhole}; while
     * the hooks are off, {@link #beginBackward} and {@link #finishBackward} do nothing.
     */
    void detachHooks(boolean detach) {
        if (detach == detached) throw new IllegalStateException("gradient hooks are already " + (detach ? "detached" : "attached"));
        for (int p = 0; p < hooked.length; p++) {
            if (detach) hooked[p].onGradientReady(null);
            else installHook(p);
        }
        detached = detach;
    }

    /**
     * Reduce-scatters a whole flat buffer (the padded length L) bucket by bucket, in the bucket layout and order of
     * a backward: bucket k's piece of this rank lands where a backward's reduction puts it — at [b/N, b/N + len/N) of
     * {@code out} (the gradient shard's layout), or with {@code inPlace} at the piece's own flat elements of {@code in}.
     * The same sums, in the same rank order, as the buckets a backward fills, so the shard gets bitwise the same values.
     */
    void reduceScatterWhole(float[] in, float[] out, boolean inPlace) {
        if (in.length != length) throw new IllegalArgumentException("a flat buffer of " + in.length + " elements, the buckets cover " + length);
        List<Work> all = new ArrayList<>();
        for (int k = 0; k < starts.length; k++) {
            int piece = lengths[k] / n;
            all.add(inPlace ? GradientWire.reduceScatter(group, reduceFormat, in, starts[k], in, starts[k] + rank * piece, piece)
                    : GradientWire.reduceScatter(group, reduceFormat, in, starts[k], out, starts[k] / n, piece));
        }
        for (Work w : all) w.await();
    }

    /** {@code --reduce-dtype}: null for FP32, else the 16-bit wire format of the reductions ({@link GradientWire}). */
    private dev.memwall.sharding.HalfFormat reduceFormat;

    void reduceFormat(dev.memwall.sharding.HalfFormat format) {
        reduceFormat = format;
    }

    /** Starts a micro-batch's backward: every bucket expects all its parameters again. */
    void beginBackward(boolean last) {
        if (detached) return;
        armed = true;
        lastMicroBatch = last;
        System.arraycopy(expected, 0, left, 0, left.length);
        parametersLeft = offsets.length;
        Arrays.fill(reported, false);
    }

    /** Parameter {@code p}'s whole gradient of this backward (the engine's hook, on the training thread). */
    private void ready(int p, Tensor g) {
        // A backward outside a training step (the budget planner profiles the model itself, then zeroes its
        // gradients) must leave no trace in the buckets: its gradients are dropped, as the zeroing would.
        if (!armed) return;
        if (reported[p]) { // the engine hands each leaf its gradient once per backward; twice would add it twice
            throw new IllegalStateException("parameter " + names[p] + ": gradient reported twice in one backward");
        }
        reported[p] = true;
        reports[p]++;
        float[] src = g.data();
        int srcOff = g.offset();
        parametersLeft--;
        for (int k : bucketsOf[p]) {
            allocate(k);
            float[] dst = buffers[k].data();
            int from = Math.max(offsets[p], starts[k]), to = Math.min(offsets[p] + numels[p], starts[k] + lengths[k]);
            int d = buffers[k].offset() + from - starts[k], s = srcOff + from - offsets[p];
            for (int i = 0; i < to - from; i++) dst[d + i] += src[s + i];
            if (--left[k] == 0 && lastMicroBatch) {
                issue(k);
                issuedInBackward++;
            }
        }
        releaseFinished();
    }

    private void allocate(int k) {
        if (buffers[k] != null) return;
        buffers[k] = Tensor.empty(DType.FP32, Category.COMMUNICATION, "grad_bucket", lengths[k]); // zero-filled
        liveBucketElements += lengths[k];
        peakLiveBucketElements = Math.max(peakLiveBucketElements, liveBucketElements);
    }

    private void issue(int k) {
        allocate(k);
        if (parametersLeftAtFirstIssue < 0) parametersLeftAtFirstIssue = parametersLeft;
        int piece = lengths[k] / n;
        float[] b = buffers[k].data();
        works[k] = held == null ? GradientWire.reduceScatter(group, reduceFormat, b, buffers[k].offset(), shardGrads.data(), starts[k] / n, piece)
                : GradientWire.reduceScatter(group, reduceFormat, b, buffers[k].offset(), b, buffers[k].offset() + rank * piece, piece);
        inFlight.add(k);
        while (inFlight.size() > MAX_IN_FLIGHT) complete(inFlight.poll());
    }

    private void releaseFinished() {
        while (!inFlight.isEmpty() && works[inFlight.peek()].isDone()) complete(inFlight.poll());
    }

    private void complete(int k) {
        long t0 = System.nanoTime();
        works[k].await();
        waitNanos += System.nanoTime() - t0;
        works[k] = null;
        if (held != null) { // the piece's FP32 sum, rounded once into the 2-byte shard
            int piece = lengths[k] / n;
            held.add(starts[k] / n, buffers[k].data(), buffers[k].offset() + rank * piece, piece);
        }
        buffers[k].release();
        buffers[k] = null;
        liveBucketElements -= lengths[k];
    }

    /**
     * Ends a micro-batch's backward. After the last one, buckets that did not complete (a parameter that got no
     * gradient) are reduced as they are, and every reduction is awaited: the shard then holds the global gradient.
     */
    void finishBackward() {
        if (detached || !lastMicroBatch) return;
        armed = false;
        for (int k = 0; k < starts.length; k++) {
            if (left[k] > 0) { // complete buckets were issued by the hook
                issue(k);
                issuedAfterBackward++;
            }
        }
        while (!inFlight.isEmpty()) complete(inFlight.poll());
    }

    /** Starts a step's figures. */
    void resetStepFigures() {
        issuedInBackward = 0;
        issuedAfterBackward = 0;
        parametersLeftAtFirstIssue = -1;
        waitNanos = 0;
        peakLiveBucketElements = liveBucketElements;
    }

    /** Most bucket elements alive at once in this step (buffers being filled or reduced). */
    long peakLiveBucketElements() {
        return peakLiveBucketElements;
    }

    /** The largest bucket, in elements. */
    int bucketElements() {
        int max = 0;
        for (int l : lengths) max = Math.max(max, l);
        return max;
    }

    /** Buckets whose reduce-scatter was issued from inside backward in this step (by the gradient-ready hook). */
    int issuedInBackward() {
        return issuedInBackward;
    }

    int issuedAfterBackward() {
        return issuedAfterBackward;
    }

    /** Parameters whose gradient was still to come when the step's first bucket was issued (−1: none issued yet). */
    int parametersLeftAtFirstIssue() {
        return parametersLeftAtFirstIssue;
    }

    /** Per parameter (flat entry order): how many of its gradient-ready reports were taken into the buckets so far. */
    long[] reportCounts() {
        return reports.clone();
    }

    int parameterCount() {
        return offsets.length;
    }

    /** Nanoseconds the training thread blocked waiting for gradient reductions this step (exposed communication). */
    long waitNanos() {
        return waitNanos;
    }

    /** Bucket boundaries, for tests and docs: bucket k is [starts[k], starts[k] + lengths[k]). */
    int[][] layout() {
        return new int[][] {Arrays.copyOf(starts, starts.length), Arrays.copyOf(lengths, lengths.length)};
    }
}
