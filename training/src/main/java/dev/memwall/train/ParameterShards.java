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
import dev.memwall.sharding.HalfFormat;
import dev.memwall.sharding.ProcessGroup;
import dev.memwall.sharding.Work;

import java.util.Arrays;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BiConsumer;
import java.util.function.Supplier;

/**
 * ZeRO stage 3: parameters sharded too (FSDP's FULL_SHARD). Between steps a rank holds only its piece of every
 * parameter unit ({@link UnitLayout}) — values, gradients and, through its optimizer, AdamW moments — 16Ψ/N bytes.
 *
 * <p><b>Forward.</b> Around each unit's forward ({@link Gpt#unitHook}) the unit is all-gathered into a
 * COMMUNICATION buffer of N·p_u floats, its parameters become views of that buffer (each a stand-in for the
 * parameter's leaf, {@link Tensor#sameLeafAs}), the next unit's gather is issued (prefetch) before the unit computes,
 * and after it the buffer is released and the parameters go back to released stand-ins. Nodes save parameters by
 * reference ({@link ParameterReferenceHooks}), so no node keeps a gathered unit alive.
 *
 * <p><b>Backward.</b> {@link #beginBackward} gathers the last unit and prefetches the one below. A parameter's
 * gradient-ready hook fires once every node reading it has run, so its values in the gathered buffer are dead: its
 * gradient is written over them, and the buffer turns from the unit's parameters into the unit's gradients piece by
 * piece — no separate gradient buffer exists. When the unit's last parameter has reported, the buffer is
 * reduce-scattered in place, asynchronously (rank r's sum is added into its gradient shard when the reduction is
 * awaited, then the buffer goes). The unit below was gathered ahead; the gather of the one below that (the prefetch)
 * is issued only once that reduction has finished, found at the next hook or unpack, so that at most two unit
 * buffers are alive: the one computing and either the one being reduced or the one prefetched. A recomputation
 * (checkpointing, selective recipes) runs inside its unit's window, reads the gathered unit and gathers nothing more;
 * its nodes are not part of the run, so no hook fires twice (a second report is an error).
 *
 * <p><b>Communication per step</b> (ring-equivalent): an all-gather of every unit in forward and again in backward,
 * and a reduce-scatter of every unit's gradients: 3·(N−1)/N·4·Σ N·p_u bytes. Every unit is gathered in backward,
 * the embeddings too, whose backward reads only the token ids: what ZeRO's 3Ψ formula counts; the embeddings' buffer
 * then receives their gradients.
 *
 * <p><b>Memory.</b> COMMUNICATION ≤ 2 · max_u N·p_u floats in forward, backward and recomputation (the shared-memory
 * transport's reduce-scatter and all-gather borrow no scratch); a checkpointing policy whose segments span k units
 * gathers them together to recompute, k + 1 units then.
 *
 * <p><b>BF16/FP16</b> ({@link #workingFormat}): units are gathered in the working format ({@link WorkingUnits}), a
 * 16-bit buffer that cannot take FP32 gradients, so a unit's gradients go to a separate FP32 buffer of N·p_u floats,
 * allocated at the unit's first gradient report (after a finished reduction has been let go) and reduce-scattered
 * as above; the unit's 16-bit buffer and decoded copy are released when the reduction starts. With
 * {@code --reduce-dtype bf16} ({@link GradientWire}) the reduction moves 2 bytes per element through its own 16-bit
 * wire buffer. The bound in bytes (B = 4 · max_u N·p_u, D = 4 · the most non-GEMM elements of a unit, decoded to FP32):
 * forward B + D; backward and recomputation 2.5·B + D: the computing unit's 16-bit values, decoded copy and FP32
 * gradients (1.5·B + D) beside one reduction in flight (B); with a 16-bit reduce wire 3·B + D + 1.5·B/N (the wire,
 * and the shared-memory 16-bit reduce-scatter's scratch) — docs/precision-sharding.md. With {@code --grad-dtype bf16|fp16}
 * the gradient shard itself is 2 bytes per element ({@link UnitReduction}).
 *
 * <p><b>FP8</b> ({@link #fp8}: per-tensor recipes and MXFP8): units are gathered as FP8 codes of their Linear weights,
 * each weight's (block's) amax agreed over the ranks first, and the other parameters exact ({@link Fp8Units}; MXFP8's
 * backward gather is FP32); gradients as in BF16.
 */
final class ParameterShards implements ParameterReferenceHooks.GatheredUnits {
    private final Gpt model;
    private final ProcessGroup group;
    private final UnitLayout layout;
    private final int n, rank, units;
    /** Released stand-ins: the parameters' autograd identities (hooks live on them), in the model between uses. */
    private final Tensor[] identities;
    private final Tensor[] views;
    private final FlatParameters local;
    private final Shard owned;
    /** Per unit: its gathered buffer (parameters; in backward, gradients written over them), or null. */
    private final Tensor[] gathered;
    private final Work[] gathering;
    private final boolean[] ready;
    private final Map<Storage, Integer> unitOfStorage = new IdentityHashMap<>();
    private final int[] paramsLeft;
    private final boolean[] reported;
    private boolean inBackward;
    /** In backward: the unit whose nodes run now; the one below it is prefetched once no reduction is in flight. */
    private int computing = -1;
    private final UnitStepFigures figures = new UnitStepFigures();
    /** The one reduction in flight, and where its result lands (the FP32 or the 2-byte gradient shard). */
    private final UnitReduction reduction;
    /** {@code --reduce-dtype}: the gradients' 16-bit wire format, null for FP32 ({@link GradientWire}). */
    private HalfFormat reduceFormat;
    /** Low-precision training: units gathered in the working format ({@link WorkingUnits}); null gathers FP32. */
    private UnitFormat working;
    /** Per unit, in low precision only: its FP32 gradient buffer while its backward runs (else the gathered buffer). */
    private final Tensor[] gradients;

    ParameterShards(Gpt model, ProcessGroup group) {
        this.model = model;
        this.group = group;
        this.n = group.worldSize();
        this.rank = group.rank();
        this.layout = new UnitLayout(model, n, rank);
        this.units = layout.units;
        int count = layout.count();
        identities = new Tensor[count];
        views = new Tensor[count];
        local = new FlatParameters(new FlatBuffer(DType.FP32, Category.PARAMETER, layout.localLength, "param_shard"),
                new FlatBuffer(DType.FP32, Category.GRADIENT, layout.localLength, "grad_shard"), layout.entries);
        float[] values = local.values().whole().data();
        int k = 0;
        for (Tensor t : model.namedParameters().values()) { // this rank's elements of each parameter, then the full tensor goes
            int[] slice = layout.ownedSlice(k);
            if (slice[1] > 0) System.arraycopy(t.data(), t.offset() + slice[0], values, slice[2], slice[1]);
            int index = k;
            t.grad(null);
            t.name(layout.names[k]); // a use between the unit's gathers fails naming the parameter in full
            t.onGradientReady(g -> ready(index, g));
            t.release();
            identities[k] = t;
            k++;
        }
        owned = layout.shard();
        gathered = new Tensor[units];
        gathering = new Work[units];
        gradients = new Tensor[units];
        ready = new boolean[units];
        paramsLeft = new int[units];
        reported = new boolean[count];
        reduction = new UnitReduction(group, layout, local, figures);
        model.unitHook(this::around);
    }

    /** Gradients reduced in {@code format} (16 bits on the wire, FP32 sums) from the next step; null: FP32. */
    void reduceFormat(HalfFormat format) {
        reduceFormat = format;
    }

    /** Units gathered in {@code format} (2 bytes per parameter) from the next gather, null: FP32. Call between steps. */
    void workingFormat(HalfFormat format) {
        releaseAll();
        working = format == null ? null : new WorkingUnits(format, group, units, layout.unitOfParam, layout.shapes);
    }

    /** The working format units are gathered in, null for FP32 (and FP8). */
    HalfFormat workingFormat() {
        return working instanceof WorkingUnits w ? w.format() : null;
    }

    /** Units gathered in FP8 under {@code state}'s recipe (per-tensor or MXFP8, {@link Fp8Units}) from the next gather. */
    void fp8(dev.memwall.precision.fp8.Fp8State state) {
        releaseAll();
        working = new Fp8Units(state, group, layout, identities);
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
        return layout.gatheredLength(u);
    }

    /** The largest gathered unit, in elements. */
    int largestUnit() {
        return layout.largestUnit();
    }

    // ------------------------------------------------------------------------------------------ forward and gathers

    private Tensor around(int u, Supplier<Tensor> body) {
        if (inBackward) progress(); // a recomputation: its unit is gathered already (see class comment)
        acquire(u, inBackward ? -1 : u + 1);
        Tensor y;
        try (var hooks = SavedTensorHooks.push(new ParameterReferenceHooks(this, SavedTensorHooks.current()))) {
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
        int length = layout.gatheredLength(u);
        if (working != null) {
            gathered[u] = working.issue(u, local.values().whole().data(), layout.localStart[u], layout.piece[u], !inBackward);
            gathering[u] = working.lastIssued();
        } else {
            Tensor buf = Tensor.empty(DType.FP32, Category.COMMUNICATION, "gathered_unit", length);
            gathered[u] = buf;
            gathering[u] = group.allGatherAsync(local.values().whole().data(), layout.localStart[u], buf.data(), buf.offset(), layout.piece[u]);
        }
        if (inBackward) figures.gatherInBackward();
        figures.allocated(gathered[u].bytes());
    }

    private void awaitGather(int u) {
        if (ready[u]) return;
        long t0 = System.nanoTime();
        gathering[u].await();
        figures.waited(System.nanoTime() - t0);
        gathering[u] = null;
        ready[u] = true;
        Tensor buf = gathered[u];
        unitOfStorage.put(buf.storage(), u);
        if (working != null) {
            working.decode(u, buf, layout.paramsOf[u], layout.offsetInUnit, layout.shapes, unitOfStorage);
            if (working.decoded(u) != null) figures.allocated(working.decoded(u).bytes());
        }
        for (int k : layout.paramsOf[u]) {
            views[k] = working != null ? working.view(u, k, buf, layout.offsetInUnit[k], layout.shapes[k])
                    : Tensor.view(buf, layout.offsetInUnit[k], layout.shapes[k]);
            views[k].sameLeafAs(identities[k]);
            model.setParameter(layout.names[k], views[k]);
        }
    }

    /** Parameter k goes back to its released stand-in in the model. */
    private void retireParameter(int k) {
        if (views[k] == null) return;
        model.setParameter(layout.names[k], identities[k]);
        views[k].release();
        views[k] = null;
    }

    /**
     * Unit u's parameters leave the model; its buffer, no longer a gathered unit, is returned to the caller. A decoded
     * FP32 copy (low precision) is released here.
     */
    private Tensor retireUnit(int u) {
        awaitGather(u); // the buffer belongs to the collective until it has finished
        for (int k : layout.paramsOf[u]) retireParameter(k);
        Tensor buf = gathered[u];
        unitOfStorage.remove(buf.storage());
        if (working != null && working.decoded(u) != null) {
            figures.released(working.decoded(u).bytes());
            working.release(u, unitOfStorage);
        }
        gathered[u] = null;
        ready[u] = false;
        return buf;
    }

    /** Drops unit u's gathered parameters: the model holds released stand-ins again. */
    private void release(int u) {
        if (gathered[u] == null) return;
        Tensor buf = retireUnit(u);
        figures.released(buf.bytes());
        buf.release();
    }

    @Override
    public int unitHolding(Tensor t) {
        Integer u = unitOfStorage.get(t.storage());
        return u == null ? -1 : u;
    }

    /**
     * Offsets in the gathered buffer, in [0, N·p_u); in low precision a tensor of the unit's decoded FP32 copy is
     * given {@code N·p_u +} its offset in that copy, so one int still says which buffer it lies in.
     */
    @Override
    public int offsetInUnit(int unit, Tensor t) {
        if (working != null && working.isDecoded(unit, t)) return layout.gatheredLength(unit) + t.offset() - working.decoded(unit).offset();
        return t.offset() - gathered[unit].offset();
    }

    @Override
    public Tensor view(int unit, int offset, int[] shape) {
        // in a step the unit is already gathered (see class comment); a backward outside one gathers on demand
        if (gathered[unit] == null || !ready[unit]) acquire(unit, -1);
        boolean decoded = offset >= layout.gatheredLength(unit);
        int at = decoded ? offset - layout.gatheredLength(unit) : offset;
        int k = decoded ? working.paramAtDecoded(unit, at, layout.paramsOf[unit]) : layout.paramAt(unit, at);
        if (inBackward && reported[k]) {
            throw new IllegalStateException("parameter " + layout.names[k] + " is read in backward after its gradient was reported");
        }
        return Tensor.view(decoded ? working.decoded(unit) : gathered[unit], at, shape);
    }

    // ------------------------------------------------------------------------------------------ backward and reductions

    /** Before a micro-batch's backward: every unit expects all its parameters; the last unit is gathered. */
    void beginBackward() {
        if (working != null) working.passEnded(); // FP8 delayed scaling: the forward's amaxes agreed over ranks
        inBackward = true;
        for (int u = 0; u < units; u++) paramsLeft[u] = layout.paramsOf[u].length;
        Arrays.fill(reported, false);
        computing = units - 1;
        issueGather(computing);
        prefetch();
        awaitGather(computing);
    }

    /** Issues the gather of the unit below the one computing, unless a reduction still holds a buffer. */
    private void prefetch() {
        if (inBackward && reduction.idle() && computing > 0) issueGather(computing - 1);
    }

    /** Finishes a reduction that has completed meanwhile, and then prefetches. Called at every hook and unpack. */
    @Override
    public void progress() {
        if (reduction.finished()) {
            reduction.complete();
            prefetch();
        }
    }

    /** Parameter {@code p}'s whole gradient of this backward (the engine's hook, on the training thread). */
    private void ready(int p, Tensor g) {
        // a backward outside a training step (e.g. a profile) leaves no trace in the gradients
        if (!inBackward) return;
        if (reported[p]) throw new IllegalStateException("parameter " + layout.names[p] + ": gradient reported twice in one backward");
        reported[p] = true;
        int u = layout.unitOfParam[p];
        if (gathered[u] == null || !ready[u]) acquire(u, -1); // no node read it; its buffer takes the gradients all the same
        progress(); // a finished reduction goes before a low-precision unit's gradient buffer is allocated
        // every node reading p has run, so its values are dead: at FP32 the gradient takes their place
        Tensor buf = gradientBuffer(u);
        System.arraycopy(g.data(), g.offset(), buf.data(), buf.offset() + layout.offsetInUnit[p], g.numel());
        retireParameter(p);
        if (--paramsLeft[u] == 0) {
            reduction.complete(); // the unit above's: its buffer goes before the one below the next is gathered
            if (u > 0) issueGather(u - 1); // prefetched already, unless that reduction outlasted u's backward
            reduce(u);
            computing = u - 1;
            if (u > 0) awaitGather(u - 1);
        }
    }

    /**
     * Where unit u's FP32 gradients are written: at FP32 its gathered buffer; in low precision (a 16-bit buffer) a
     * separate FP32 buffer of N·p_u floats, allocated at the unit's first gradient report.
     */
    private Tensor gradientBuffer(int u) {
        if (working == null) return gathered[u];
        if (gradients[u] == null) {
            gradients[u] = Tensor.empty(DType.FP32, Category.COMMUNICATION, "unit_gradients", layout.gatheredLength(u));
            figures.allocated(gradients[u].bytes());
        }
        return gradients[u];
    }

    /** Reduce-scatters unit u's gradients in place, asynchronously: rank r's sum lands at [r·p_u, (r+1)·p_u). */
    private void reduce(int u) {
        reduction.complete();
        Tensor b = gradientBuffer(u);
        gradients[u] = null;
        Tensor values = retireUnit(u);
        if (values != b) { // low precision: the 16-bit values are dead once the gradients are complete
            figures.released(values.bytes());
            values.release();
        }
        float[] d = b.data();
        for (int k : layout.paramsOf[u]) { // parameters that never reported contribute nothing
            if (!reported[k]) Arrays.fill(d, b.offset() + layout.offsetInUnit[k], b.offset() + layout.offsetInUnit[k] + layout.numel(k), 0f);
        }
        Arrays.fill(d, b.offset() + layout.unitLength[u], b.offset() + layout.gatheredLength(u), 0f); // padding
        reduction.start(u, b, reduceFormat);
    }

    /**
     * After a micro-batch's backward: units whose parameters did not all report (the same on every rank: the same
     * graph) are reduced as they are, every reduction is awaited, and gathers still alive are released.
     */
    void finishBackward() {
        for (int u = units - 1; u >= 0; u--) {
            if (paramsLeft[u] > 0 && paramsLeft[u] < layout.paramsOf[u].length) reduce(u);
        }
        reduction.complete();
        inBackward = false;
        computing = -1;
        releaseAll();
        if (working != null) working.passEnded(); // and the backward's
    }

    /** Releases every gathered unit (leftovers of a backward outside a step, or of a failed one). */
    void releaseAll() {
        for (int u = 0; u < units; u++) {
            release(u);
            if (gradients[u] != null) { // a failed backward's low-precision gradients
                figures.released(gradients[u].bytes());
                gradients[u].release();
                gradients[u] = null;
            }
        }
    }

    // ------------------------------------------------------------------------------------------ whole-model access

    /**
     * Every parameter's values in the unpadded flat order (Ψ floats), gathered unit by unit (a collective: every rank
     * calls it); one unit's buffer at a time besides the result.
     */
    float[] gatherAll() {
        List<FlatParameters.Entry> entries = local.entries();
        FlatParameters.Entry last = entries.get(entries.size() - 1);
        float[] out = new float[last.offset() + last.numel()];
        int[] k = {0}; // parameters come in model order, which is the layout's
        forEachGathered((name, view) -> System.arraycopy(view.data(), view.offset(), out, entries.get(k[0]++).offset(), view.numel()));
        return out;
    }

    /** Per unit u: {flat start of u in the unpadded flat layout, L_u, p_u} ({@link UnitLayout#unitLayout}). */
    int[][] unitLayout() {
        return layout.unitLayout();
    }

    /**
     * Collective, unit by unit: gathers each unit (one at a time, unless it is gathered already) and hands every
     * parameter's name and gathered view to {@code sink} while its unit is gathered; the view is valid only then.
     */
    void forEachGathered(BiConsumer<String, Tensor> sink) {
        UnitFormat lowPrecision = working;
        if (lowPrecision != null) releaseAll(); // the masters are FP32: gather them so, not the working copies
        working = null;
        try {
            for (int u = 0; u < units; u++) {
                boolean wasGathered = gathered[u] != null;
                acquire(u, -1);
                for (int k : layout.paramsOf[u]) sink.accept(layout.names[k], views[k]);
                if (!wasGathered) release(u);
            }
        } finally {
            working = lowPrecision;
        }
    }

    /** Parameter k's elements this rank owns ({@link UnitLayout#ownedSlice}). */
    int[] ownedSlice(int k) {
        return layout.ownedSlice(k);
    }

    /** Names of the parameters in model order (PyTorch names), and their shapes. */
    String[] names() {
        return layout.names.clone();
    }

    int[] shape(int k) {
        return layout.shapes[k].clone();
    }

    // ------------------------------------------------------------------------------------------ optimizer side

    float[] shardGradients() {
        return local.grads().whole().data();
    }

    /** {@code --grad-dtype bf16|fp16}: the gradient shard held in 2 bytes between steps ({@link UnitReduction#holdIn}). */
    void holdGradientsIn(HalfGradients shard) {
        reduction.holdIn(shard);
    }

    /** Zeroes the whole gradient shard (padding included) for the next step. */
    void zeroGradients() {
        Arrays.fill(local.grads().whole().data(), 0f);
    }

    /** Starts a step's figures; leftovers of a backward outside a step are released first. */
    void resetStepFigures() {
        releaseAll();
        figures.reset();
    }

    /** Nanoseconds the training thread blocked on gathers and reductions this step. */
    long waitNanos() {
        return figures.waitNanos();
    }

    /** This step's figures: unit-buffer bytes alive at most, collectives issued from inside backward. */
    UnitStepFigures figures() {
        return figures;
    }
}
