package dev.memwall.train;

import dev.memwall.autograd.DType;
import dev.memwall.autograd.FlatBuffer;
import dev.memwall.autograd.SavedTensorHooks;
import dev.memwall.autograd.Storage;
import dev.memwall.autograd.Tensor;
import dev.memwall.memory.Category;
import dev.memwall.nn.FlatParameters;
import dev.memwall.nn.Gpt;
import dev.memwall.optim.Shard;
import dev.memwall.sharding.ProcessGroup;
import dev.memwall.sharding.Work;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/**
 * ZeRO stage 3: parameters sharded too (FSDP's FULL_SHARD). Between steps a rank holds only its piece of every
 * parameter unit — values, gradients and, through its optimizer, AdamW moments — 16Ψ/N bytes in all.
 *
 * <p><b>Units and layout.</b> A {@link Gpt}'s parameters form units ({@link Gpt#unitOf}): the embeddings, each block,
 * the final LayerNorm with the head. Unit u (L_u elements, in {@code namedParameters} order) is padded to N·p_u with
 * p_u = ceil(L_u / N), and rank r owns its elements [r·p_u, (r+1)·p_u), FSDP-style, at [o_u, o_u + p_u) of its shard
 * arrays (o_u = Σ p_v for v &lt; u): one PARAMETER and one GRADIENT array of Σ p_u floats. Its optimizer owns one
 * segment per unit ({@link #shard}), padding left out.
 *
 * <p><b>Forward.</b> Around each unit's forward ({@link Gpt#unitHook}) the unit is all-gathered into a
 * COMMUNICATION buffer of N·p_u floats, its parameters become views of that buffer (each a stand-in for the
 * parameter's leaf, {@link Tensor#sameLeafAs}), the next unit's gather is issued (prefetch) before the unit computes,
 * and after it the buffer is released and the parameters go back to released stand-ins. Nodes that save a parameter
 * save a reference to (unit, offset, shape) instead of the buffer (saved-tensor hooks, innermost; other tensors go to
 * the hooks outside, checkpointing's), so no node keeps a gathered unit alive.
 *
 * <p><b>Backward.</b> {@link #beginBackward} gathers the last unit and prefetches the one before. Each parameter's
 * gradient-ready hook adds its gradient into its unit's gradient buffer (COMMUNICATION, N·p_u floats); when a unit's
 * last parameter has reported, every node that reads its parameters has run, so its buffer is reduce-scattered
 * asynchronously (in place; rank r's sum is added into its gradient shard when the reduction is awaited), its
 * gathered parameters released, the unit before it awaited and the one before that prefetched. A recomputation
 * (checkpointing, selective recipes) runs inside that window, so it reads the gathered unit and gathers nothing more;
 * its nodes are not part of the run, so no hook fires twice (a second report is an error).
 *
 * <p><b>Communication per step</b> (ring-equivalent): an all-gather of every unit in forward and again in backward,
 * and a reduce-scatter of every unit's gradients: 3·(N−1)/N·4·Σ N·p_u bytes. Every unit is gathered in backward,
 * the embeddings too, whose backward reads only the token ids: what ZeRO's 3Ψ formula counts.
 *
 * <p><b>Memory.</b> At most two gathered units are alive (the one computing and the one prefetched) and two gradient
 * buffers (the one being filled, the one being reduced): COMMUNICATION ≤ 4 · max N·p_u floats plus the transport's
 * scratch.
 */
final class ParameterShards {
    /** Gradient reductions in flight before the oldest is awaited. */
    static final int MAX_REDUCTIONS_IN_FLIGHT = 1;

    private final Gpt model;
    private final ProcessGroup group;
    private final int n, rank, units;
    private final int[] piece, localStart, unitParamCount;
    private final int[] unitOfParam, offsetInUnit;
    private final String[] names;
    private final int[][] shapes;
    private final int[][] paramsOf;
    /** Released stand-ins: the parameters' autograd identities (hooks live on them), in the model between uses. */
    private final Tensor[] identities;
    private final Tensor[] views;
    private final FlatParameters local;
    private final Shard owned;
    private final Tensor[] gathered;
    private final Work[] gathering;
    private final boolean[] ready;
    private final Map<Storage, Integer> unitOfStorage = new IdentityHashMap<>();
    private final Tensor[] gradBuffers;
    private final Work[] reducing;
    private final ArrayDeque<Integer> inFlight = new ArrayDeque<>();
    private final int[] paramsLeft;
    private final boolean[] reported;
    private boolean inBackward;
    /** {@code --reduce-dtype}: the gradients' 16-bit wire format, null for FP32 ({@link GradientWire}). */
    private dev.memwall.sharding.HalfFormat reduceFormat;
    /** Low-precision training: units gathered in the working format ({@link WorkingUnits}); null gathers FP32. */
    private WorkingUnits working;
    // figures of the current step
    private long waitNanos;
    private long liveGathered, peakGathered, liveGrads, peakGrads;
    private int gathersInBackward, reductionsInBackward;

    ParameterShards(Gpt model, ProcessGroup group) {
        this.model = model;
        this.group = group;
        this.n = group.worldSize();
        this.rank = group.rank();
        this.units = model.unitCount();
        Map<String, Tensor> named = model.namedParameters();
        int count = named.size();
        names = new String[count];
        shapes = new int[count][];
        unitOfParam = new int[count];
        offsetInUnit = new int[count];
        identities = new Tensor[count];
        views = new Tensor[count];
        int[] unitLength = new int[units];
        unitParamCount = new int[units];
        List<FlatParameters.Entry> layout = new ArrayList<>();
        int p = 0, flat = 0, previous = 0;
        for (Map.Entry<String, Tensor> e : named.entrySet()) {
            int u = model.unitOf(e.getKey());
            if (u < previous) {
                throw new IllegalStateException("parameter " + e.getKey() + " of unit " + u + " comes after unit " + previous
                        + ": units must be contiguous in parameter order");
            }
            previous = u;
            names[p] = e.getKey();
            shapes[p] = e.getValue().shape().clone();
            unitOfParam[p] = u;
            offsetInUnit[p] = unitLength[u];
            unitLength[u] += e.getValue().numel();
            unitParamCount[u]++;
            layout.add(new FlatParameters.Entry(e.getKey(), flat, shapes[p]));
            flat += e.getValue().numel();
            p++;
        }
        paramsOf = new int[units][];
        for (int u = 0; u < units; u++) paramsOf[u] = new int[unitParamCount[u]];
        int[] filled = new int[units];
        for (int k = 0; k < count; k++) paramsOf[unitOfParam[k]][filled[unitOfParam[k]]++] = k;
        piece = new int[units];
        localStart = new int[units];
        int total = 0;
        for (int u = 0; u < units; u++) {
            piece[u] = ProcessGroup.shardLength(unitLength[u], n);
            localStart[u] = total;
            total += piece[u];
        }
        local = new FlatParameters(new FlatBuffer(DType.FP32, Category.PARAMETER, total, "param_shard"),
                new FlatBuffer(DType.FP32, Category.GRADIENT, total, "grad_shard"), layout);
        float[] values = local.values().whole().data();
        int k = 0;
        for (Tensor t : named.values()) { // this rank's elements of each parameter, then the full tensor goes
            int u = unitOfParam[k], lo = Math.max(offsetInUnit[k], rank * piece[u]);
            int hi = Math.min(offsetInUnit[k] + t.numel(), (rank + 1) * piece[u]);
            if (lo < hi) {
                System.arraycopy(t.data(), t.offset() + lo - offsetInUnit[k], values, localStart[u] + lo - rank * piece[u], hi - lo);
            }
            int index = k;
            t.grad(null);
            t.name(names[k]); // a use between the unit's gathers fails naming the parameter in full
            t.onGradientReady(g -> ready(index, g));
            t.release();
            identities[k] = t;
            k++;
        }
        int[] starts = new int[units], lengths = new int[units];
        for (int u = 0; u < units; u++) {
            starts[u] = localStart[u];
            lengths[u] = Math.max(0, Math.min(piece[u], unitLength[u] - rank * piece[u]));
        }
        owned = new Shard(starts, lengths, null, starts.clone());
        gathered = new Tensor[units];
        gathering = new Work[units];
        ready = new boolean[units];
        gradBuffers = new Tensor[units];
        reducing = new Work[units];
        paramsLeft = new int[units];
        reported = new boolean[count];
        model.unitHook(this::around);
    }

    /** Gradients reduced in {@code format} (16 bits on the wire, FP32 sums) from the next step; null: FP32. */
    void reduceFormat(dev.memwall.sharding.HalfFormat format) {
        reduceFormat = format;
    }

    /**
     * Units gathered in {@code format} (2 bytes per parameter) from the next gather, null: FP32. Call between steps.
     */
    void workingFormat(dev.memwall.sharding.HalfFormat format) {
        releaseAll();
        working = format == null ? null : new WorkingUnits(format, group, units, unitOfParam, shapes);
    }

    /** The working format units are gathered in, null for FP32. */
    dev.memwall.sharding.HalfFormat workingFormat() {
        return working == null ? null : working.format();
    }

    /** This rank's shard arrays (values, gradients) with the model's unpadded flat layout as entries. */
    FlatParameters local() {
        return local;
    }

    /** What this rank's optimizer updates: one segment per unit of the shard arrays, padding left out. */
    Shard shard() {
        return owned;
    }

    int unitCount() {
        return units;
    }

    /** Elements of unit u's gathered buffer (N·p_u). */
    int gatheredLength(int u) {
        return n * piece[u];
    }

    // ------------------------------------------------------------------------------------------ forward and gathers

    private Tensor around(int u, Supplier<Tensor> body) {
        acquire(u, inBackward ? u - 1 : u + 1);
        Tensor y;
        try (var hooks = SavedTensorHooks.push(new UnitHooks(SavedTensorHooks.current()))) {
            y = body.get();
        }
        if (!inBackward) release(u); // in backward the unit stays until its gradients are complete
        return y;
    }

    /** Issues unit u's gather if needed and {@code next}'s (prefetch), then waits for u's. */
    private void acquire(int u, int next) {
        issueGather(u);
        if (next >= 0 && next < units) issueGather(next);
        awaitGather(u);
    }

    private void issueGather(int u) {
        if (gathered[u] != null) return;
        if (working != null) {
            gathered[u] = working.issue(u, local.values().whole().data(), localStart[u], piece[u]);
            gathering[u] = working.lastIssued();
        } else {
            Tensor buf = Tensor.empty(DType.FP32, Category.COMMUNICATION, "gathered_unit", n * piece[u]);
            gathered[u] = buf;
            gathering[u] = group.allGatherAsync(local.values().whole().data(), localStart[u], buf.data(), buf.offset(), piece[u]);
        }
        if (inBackward) gathersInBackward++;
        liveGathered += n * piece[u];
        peakGathered = Math.max(peakGathered, liveGathered);
    }

    private void awaitGather(int u) {
        if (ready[u]) return;
        long t0 = System.nanoTime();
        gathering[u].await();
        waitNanos += System.nanoTime() - t0;
        gathering[u] = null;
        ready[u] = true;
        Tensor buf = gathered[u];
        unitOfStorage.put(buf.storage(), u);
        if (working != null) working.decode(u, buf, paramsOf[u], offsetInUnit, shapes, unitOfStorage);
        for (int k : paramsOf[u]) {
            views[k] = working != null ? working.view(u, k, buf, offsetInUnit[k], shapes[k]) : Tensor.view(buf, offsetInUnit[k], shapes[k]);
            views[k].sameLeafAs(identities[k]);
            model.setParameter(names[k], views[k]);
        }
    }

    /** Drops unit u's gathered parameters: the model holds released stand-ins again. */
    private void release(int u) {
        if (gathered[u] == null) return;
        awaitGather(u); // the buffer belongs to the collective until it has finished
        for (int k : paramsOf[u]) {
            model.setParameter(names[k], identities[k]);
            views[k].release();
            views[k] = null;
        }
        unitOfStorage.remove(gathered[u].storage());
        if (working != null) working.release(u, unitOfStorage);
        gathered[u].release();
        gathered[u] = null;
        ready[u] = false;
        liveGathered -= n * piece[u];
    }

    /** A saved parameter: where in its unit's gathered buffer it lies; unpacked from whatever buffer is gathered then. */
    private record ParamRef(int unit, boolean decoded, int offset, int[] shape) {
    }

    /** Saves parameters by reference; every other tensor goes to the hooks that were active outside. */
    private final class UnitHooks implements SavedTensorHooks {
        private final SavedTensorHooks outer;

        UnitHooks(SavedTensorHooks outer) {
            this.outer = outer;
        }

        @Override
        public Object pack(Tensor t) {
            Integer u = unitOfStorage.get(t.storage());
            if (u != null) {
                Tensor base = working != null && working.isDecoded(u, t) ? working.decoded(u) : gathered[u];
                return new ParamRef(u, base != gathered[u], t.offset() - base.offset(), t.shape().clone());
            }
            return outer == null ? t : outer.pack(t);
        }

        @Override
        public Tensor unpack(Object packed) {
            if (packed instanceof ParamRef r) {
                // in a step the unit is already gathered (see class comment); a backward outside one gathers on demand
                if (gathered[r.unit()] == null || !ready[r.unit()]) acquire(r.unit(), -1);
                return Tensor.view(r.decoded() ? working.decoded(r.unit()) : gathered[r.unit()], r.offset(), r.shape());
            }
            return outer == null ? (Tensor) packed : outer.unpack(packed);
        }

        @Override
        public void release(Object packed) {
            if (!(packed instanceof ParamRef) && outer != null) outer.release(packed);
        }
    }

    // ------------------------------------------------------------------------------------------ backward and reductions

    /** Before a micro-batch's backward: every unit expects all its parameters; the last unit is gathered. */
    void beginBackward() {
        inBackward = true;
        System.arraycopy(unitParamCount, 0, paramsLeft, 0, units);
        Arrays.fill(reported, false);
        acquire(units - 1, units - 2);
    }

    /** Parameter {@code p}'s whole gradient of this backward (the engine's hook, on the training thread). */
    private void ready(int p, Tensor g) {
        // a backward outside a training step (e.g. a profile) leaves no trace in the gradients
        if (!inBackward) return;
        if (reported[p]) throw new IllegalStateException("parameter " + names[p] + ": gradient reported twice in one backward");
        reported[p] = true;
        int u = unitOfParam[p];
        if (gradBuffers[u] == null) allocateGrads(u);
        float[] src = g.data(), dst = gradBuffers[u].data();
        int d = gradBuffers[u].offset() + offsetInUnit[p], s = g.offset();
        for (int i = 0, len = g.numel(); i < len; i++) dst[d + i] += src[s + i];
        pollReductions();
        if (--paramsLeft[u] == 0) {
            reduce(u);
            reductionsInBackward++;
            release(u);
            if (u > 0) acquire(u - 1, u - 2);
        }
    }

    private void allocateGrads(int u) {
        gradBuffers[u] = Tensor.empty(DType.FP32, Category.COMMUNICATION, "grad_unit", n * piece[u]); // zero-filled
        liveGrads += n * piece[u];
        peakGrads = Math.max(peakGrads, liveGrads);
    }

    /** Reduce-scatters unit u's gradients in place: rank r's sum lands at [r·p_u, (r+1)·p_u) of the buffer. */
    private void reduce(int u) {
        Tensor b = gradBuffers[u];
        reducing[u] = GradientWire.reduceScatter(group, reduceFormat, b.data(), b.offset(), b.data(), b.offset() + rank * piece[u], piece[u]);
        inFlight.add(u);
        while (inFlight.size() > MAX_REDUCTIONS_IN_FLIGHT) completeReduction(inFlight.poll());
    }

    private void pollReductions() {
        while (!inFlight.isEmpty() && reducing[inFlight.peek()].isDone()) completeReduction(inFlight.poll());
    }

    /** Awaits unit u's reduction, adds this rank's sum into its gradient shard, releases the buffer. */
    private void completeReduction(int u) {
        long t0 = System.nanoTime();
        reducing[u].await();
        waitNanos += System.nanoTime() - t0;
        reducing[u] = null;
        Tensor b = gradBuffers[u];
        float[] src = b.data(), dst = local.grads().whole().data();
        int s = b.offset() + rank * piece[u], d = localStart[u];
        for (int i = 0; i < piece[u]; i++) dst[d + i] += src[s + i];
        b.release();
        gradBuffers[u] = null;
        liveGrads -= n * piece[u];
    }

    /**
     * After a micro-batch's backward: units whose parameters did not all report (the same on every rank: the same
     * graph) are reduced as they are, every reduction is awaited, and gathers still alive are released.
     */
    void finishBackward() {
        for (int u = units - 1; u >= 0; u--) if (paramsLeft[u] > 0 && gradBuffers[u] != null) reduce(u);
        while (!inFlight.isEmpty()) completeReduction(inFlight.poll());
        inBackward = false;
        releaseAll();
    }

    /** Releases every gathered unit (leftovers of a backward outside a step, or of a failed one). */
    void releaseAll() {
        for (int u = 0; u < units; u++) release(u);
    }

    /**
     * Every parameter's values in the unpadded flat order (Ψ floats), gathered unit by unit (a collective: every rank
     * calls it); one unit's buffer at a time besides the result.
     */
    float[] gatherAll() {
        List<FlatParameters.Entry> layout = local.entries();
        FlatParameters.Entry last = layout.get(layout.size() - 1);
        float[] out = new float[last.offset() + last.numel()];
        int[] k = {0}; // parameters come in model order, which is the layout's
        forEachGathered((name, view) -> System.arraycopy(view.data(), view.offset(), out, layout.get(k[0]++).offset(), view.numel()));
        return out;
    }

    /**
     * Per unit u: {flat start of u in the unpadded flat layout, L_u, p_u}. Rank r's segment u of the optimizer holds
     * flat elements [start + r·p_u, start + r·p_u + {@link #shard()}.lengths()[u]).
     */
    int[][] unitLayout() {
        int[][] out = new int[units][];
        List<FlatParameters.Entry> layout = local.entries();
        for (int u = 0; u < units; u++) {
            int first = paramsOf[u][0], last = paramsOf[u][paramsOf[u].length - 1];
            int start = layout.get(first).offset(), end = layout.get(last).offset() + layout.get(last).numel();
            out[u] = new int[] {start, end - start, piece[u]};
        }
        return out;
    }

    /**
     * Collective, unit by unit: gathers each unit (one at a time, unless it is gathered already) and hands every
     * parameter's name and gathered view to {@code sink} while its unit is gathered; the view is valid only then.
     */
    void forEachGathered(java.util.function.BiConsumer<String, Tensor> sink) {
        WorkingUnits lowPrecision = working;
        if (lowPrecision != null) releaseAll(); // the masters are FP32: gather them so, not the working copies
        working = null;
        try {
            for (int u = 0; u < units; u++) {
                boolean wasGathered = gathered[u] != null;
                acquire(u, -1);
                for (int k : paramsOf[u]) sink.accept(names[k], views[k]);
                if (!wasGathered) release(u);
            }
        } finally {
            working = lowPrecision;
        }
    }

    /**
     * Parameter k's elements this rank owns: {first element within the parameter, count, index in the shard
     * arrays}; count 0 when it owns none.
     */
    int[] ownedSlice(int k) {
        int u = unitOfParam[k], numel = 1;
        for (int d : shapes[k]) numel *= d;
        int lo = Math.max(offsetInUnit[k], rank * piece[u]), hi = Math.min(offsetInUnit[k] + numel, (rank + 1) * piece[u]);
        if (hi <= lo) return new int[] {0, 0, 0};
        return new int[] {lo - offsetInUnit[k], hi - lo, localStart[u] + lo - rank * piece[u]};
    }

    /** Names of the parameters in model order (PyTorch names), and their shapes. */
    String[] names() {
        return names.clone();
    }

    int[] shape(int k) {
        return shapes[k].clone();
    }

    // ------------------------------------------------------------------------------------------ optimizer side

    float[] shardGradients() {
        return local.grads().whole().data();
    }

    /** Zeroes the whole gradient shard (padding included) for the next step. */
    void zeroGradients() {
        Arrays.fill(local.grads().whole().data(), 0f);
    }

    /** Starts a step's figures; leftovers of a backward outside a step are released first. */
    void resetStepFigures() {
        releaseAll();
        waitNanos = 0;
        gathersInBackward = 0;
        reductionsInBackward = 0;
        peakGathered = liveGathered;
        peakGrads = liveGrads;
    }

    /** Nanoseconds the training thread blocked on gathers and reductions this step. */
    long waitNanos() {
        return waitNanos;
    }

    /** Most gathered-parameter elements alive at once this step. */
    long peakGatheredElements() {
        return peakGathered;
    }

    /** Most gradient-buffer elements alive at once this step. */
    long peakGradientElements() {
        return peakGrads;
    }

    /** Gathers issued from inside backward (by a gradient-ready hook or {@link #beginBackward}) this step. */
    int gathersInBackward() {
        return gathersInBackward;
    }

    /** Reductions issued from inside backward (by a gradient-ready hook) this step. */
    int reductionsInBackward() {
        return reductionsInBackward;
    }

    /** The largest gathered unit, in elements. */
    int largestUnit() {
        int max = 0;
        for (int u = 0; u < units; u++) max = Math.max(max, n * piece[u]);
        return max;
    }
}
