package dev.memwall.autograd;

import java.util.ArrayList;
import java.util.List;

/**
 * One recorded op: its inputs' autograd identities, what it saved for backward, and its backward rule.
 *
 * <p>Each node has exactly one output tensor. Ops with several results (split, chunk) are composed of single-output
 * ops, which keeps the engine to a few lines.
 *
 * <p>{@link #backward} must be written with differentiable tensor ops: when the engine runs it with
 * {@code createGraph}, the backward computation is itself recorded, and that is how second-order gradients and
 * Hessian-vector products come out. {@link #backwardFast} may use fused kernels; the engine calls it, under no-grad,
 * when no graph of the backward pass is wanted.
 */
public abstract class Node {
    private final String name;
    /** Per input: the producing node, the leaf tensor to accumulate into, or null when no gradient is needed. */
    final Object[] edges;
    private final List<Object> packed = new ArrayList<>(2);
    private final List<SavedTensorHooks> packedBy = new ArrayList<>(2);
    /** Per slot: null, or the autograd identity of the FP32 tensor a {@link CastPolicy} had kept in a low format. */
    private final List<LoweredSave> lowered = new ArrayList<>(2);
    private Tensor[] unpacked;
    private boolean freed;

    protected Node(String name, Tensor... inputs) {
        this.name = name;
        this.edges = new Object[inputs.length];
        for (int k = 0; k < inputs.length; k++) {
            Tensor in = inputs[k];
            if (in == null || !in.requiresGrad) continue;
            edges[k] = in.gradFn != null ? in.gradFn : in.gradKey;
        }
        Scope.register(this);
    }

    /** Whether an op on these inputs must be recorded: grad mode is on and some input requires a gradient. */
    public static boolean shouldRecord(Tensor... inputs) {
        if (!GradMode.isEnabled()) return false;
        for (Tensor t : inputs) if (t != null && t.requiresGrad) return true;
        return false;
    }

    /** Makes this node the producer of {@code out}; call it before saving {@code out} itself. Returns {@code out}. */
    public final Tensor attach(Tensor out) {
        out.gradFn = this;
        out.gradKey = this;
        out.requiresGrad = true;
        return out;
    }

    public final String name() {
        return name;
    }

    public final int inputCount() {
        return edges.length;
    }

    /** Whether input {@code k} needs a gradient; backward rules skip work for inputs that do not. */
    public final boolean needsGrad(int k) {
        return edges[k] != null;
    }

    /**
     * Saves {@code t} for backward and returns its slot. Without hooks the node keeps a reference to the storage,
     * which is then counted as ACTIVATION until the node frees it; with hooks the pushed {@link SavedTensorHooks} decide.
     */
    protected final int save(Tensor t) {
        t.checkAlive(name + ".save");
        CastPolicy policy = CastPolicy.current();
        Tensor low = policy == null ? t : policy.saved(name, t.storage().op(), t);
        if (low != t) { // autocast keeps this activation in a low format: save the copy, decode it in saved()
            int slot = savePlain(low, t);
            lowered.set(slot, LoweredSave.of(t, low.dtype()));
            low.release(); // the node holds its own handle (or the hooks what they packed)
            return slot;
        }
        return savePlain(t, t);
    }

    /** Saves {@code t} through the hooks; {@code original} is the tensor it is a low-format copy of, or {@code t}. */
    private int savePlain(Tensor t, Tensor original) {
        SavedTensorHooks hooks = SavedTensorHooks.current();
        Object p;
        if (hooks == null) {
            p = t.alias();
        } else {
            try (var off = SavedTensorHooks.suspend()) {
                p = original == t ? hooks.pack(t) : hooks.packLowered(original, t);
            }
            if (p == t) p = t.alias(); // the caller keeps its own handle; the node needs one of its own
        }
        if (p instanceof Tensor pt) pt.markSaved(name);
        packed.add(p);
        packedBy.add(hooks);
        lowered.add(null);
        return packed.size() - 1;
    }

    /** The tensor saved in {@code slot}, unpacked through the hooks that packed it. */
    protected final Tensor saved(int slot) {
        if (freed) throw new IllegalStateException(freedMessage());
        if (unpacked == null) unpacked = new Tensor[packed.size()];
        if (unpacked[slot] == null) {
            SavedTensorHooks hooks = packedBy.get(slot);
            Object p = packed.get(slot);
            if (hooks == null) {
                unpacked[slot] = (Tensor) p;
            } else {
                try (var off = SavedTensorHooks.suspend()) {
                    unpacked[slot] = hooks.unpack(p);
                }
            }
            LoweredSave source = lowered.get(slot);
            if (source != null) {
                Tensor raw = unpacked[slot];
                unpacked[slot] = source.decode(raw); // FP32, with the original's autograd identity
                if (raw != p && raw != unpacked[slot]) raw.releaseIfAlive();
            }
        }
        return unpacked[slot];
    }

    /** Gradient rule with differentiable ops: one entry per input, null where {@link #needsGrad} is false. */
    protected abstract Tensor[] backward(Tensor grad);

    /** First-order rule, free to use fused kernels; runs under no-grad. Defaults to {@link #backward}. */
    protected Tensor[] backwardFast(Tensor grad) {
        return backward(grad);
    }

    final Tensor[] apply(Tensor grad, boolean createGraph) {
        if (freed && !packed.isEmpty()) throw new IllegalStateException(freedMessage());
        try (var mode = GradMode.set(createGraph)) {
            Tensor[] r = createGraph ? backward(grad) : backwardFast(grad);
            if (r.length != edges.length) {
                throw new IllegalStateException(name + ".backward returned " + r.length + " gradients for " + edges.length + " inputs");
            }
            return r;
        } finally {
            releaseUnpacked();
        }
    }

    private void releaseUnpacked() {
        if (unpacked == null) return;
        for (int k = 0; k < unpacked.length; k++) {
            Tensor u = unpacked[k];
            if (u != null && u != packed.get(k)) u.releaseIfAlive();
        }
        unpacked = null;
    }

    /** Releases everything saved. Called after the node ran (unless the graph is retained) and when its scope closes. */
    public final void freeSaved() {
        if (freed) return;
        freed = true;
        for (int k = 0; k < packed.size(); k++) {
            Object p = packed.get(k);
            if (p instanceof Tensor pt) {
                pt.releaseSaved(name + ".free");
            } else if (packedBy.get(k) != null) {
                packedBy.get(k).release(p);
            }
        }
    }

    public final boolean isFreed() {
        return freed;
    }

    private String freedMessage() {
        return "Trying to backward through " + name + " a second time, but its saved tensors were already freed. "
                + "Saved values are freed by backward(); pass retainGraph=true to the first backward if you need to "
                + "go through the graph again.";
    }

    @Override
    public String toString() {
        return name;
    }
}
