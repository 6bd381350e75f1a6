package dev.memwall.autograd;

import dev.memwall.format.Overflow;
import dev.memwall.memory.Category;
import dev.memwall.ops.F;
import dev.memwall.rng.Rng;

import java.util.Arrays;

/**
 * A contiguous row-major n-dimensional array: a view (offset + shape) of an accounted {@link Storage}.
 *
 * <p>Like PyTorch: {@link #requiresGrad(boolean)}, {@link #backward()}, {@link #grad()}, {@link #detach()}.
 * Unlike PyTorch, lifetime is explicit: {@link #release()} drops this handle (the storage goes when no handle and no
 * saving node holds it any more), and an open {@link Scope} releases the temporaries created in it. That is what
 * makes memory figures exact and repeatable.
 */
public final class Tensor {
    private final Storage storage;
    private final int offset;
    private final int[] shape;
    private final int numel;
    private boolean released;
    boolean requiresGrad;
    Node gradFn;
    Tensor grad;
    /** Receives this leaf's whole gradient once per backward instead of {@link #grad}; see {@link #onGradientReady}. */
    java.util.function.Consumer<Tensor> gradientReady;
    /** Identity under which gradients are collected: the node for a non-leaf, a shared token for a leaf and its aliases. */
    Object gradKey;
    private String name;

    /** True for handles owned by an autograd node (saved tensors): scopes leave them to the node. */
    boolean nodeOwned;

    Tensor(Storage storage, int offset, int[] shape) {
        this(storage, offset, shape, true);
    }

    private Tensor(Storage storage, int offset, int[] shape, boolean register) {
        this.storage = storage;
        this.offset = offset;
        this.shape = shape;
        this.numel = Shape.numel(shape);
        this.gradKey = this;
        if (offset < 0 || offset + numel > storage.length) {
            throw new IllegalArgumentException("view [" + offset + ", " + (offset + numel) + ") outside storage of " + storage.length);
        }
        if (register && !storage.category().persistent()) Scope.register(this);
    }

    // ---------------------------------------------------------------- creation

    /** A new zero-filled tensor of {@code dtype}, accounted under {@code category}, attributed to {@code op}. */
    public static Tensor empty(DType dtype, Category category, String op, int... shape) {
        Shape.check(shape, op);
        return new Tensor(Storage.allocate(dtype, Shape.numel(shape), category, op), 0, shape.clone());
    }

    /** A new FP32 temporary. Kernels overwrite it, so "empty" and "zeros" are the same thing on the JVM. */
    public static Tensor empty(String op, int... shape) {
        return empty(DType.FP32, Category.TEMPORARY, op, shape);
    }

    /**
     * A new FP32 temporary whose contents are unspecified: only for a kernel that writes every element before anything
     * reads it (a GEMM with beta 0, an elementwise op's output), which then skips the zero-fill of a reused array.
     */
    public static Tensor uninitialized(String op, int... shape) {
        Shape.check(shape, op);
        return new Tensor(Storage.allocateUnfilled(Shape.numel(shape), Category.TEMPORARY, op), 0, shape.clone());
    }

    public static Tensor zeros(int... shape) {
        return empty("zeros", shape);
    }

    public static Tensor full(float value, int... shape) {
        Tensor t = empty("full", shape);
        Arrays.fill(t.storage.f, value);
        return t;
    }

    public static Tensor scalar(float value) {
        return full(value);
    }

    /** Copies {@code data} into a new FP32 tensor of the given shape. */
    public static Tensor of(float[] data, int... shape) {
        if (shape.length == 0 && data.length != 1) shape = new int[]{data.length};
        if (Shape.numel(shape) != data.length) {
            throw new IllegalArgumentException("of: " + data.length + " values do not fill shape " + Shape.str(shape));
        }
        Tensor t = empty("of", shape);
        System.arraycopy(data, 0, t.storage.f, 0, data.length);
        return t;
    }

    /** Copies {@code data} into a new INT32 tensor (token ids, targets). */
    public static Tensor ints(int[] data, int... shape) {
        if (shape.length == 0) shape = new int[]{data.length};
        if (Shape.numel(shape) != data.length) {
            throw new IllegalArgumentException("ints: " + data.length + " values do not fill shape " + Shape.str(shape));
        }
        Tensor t = empty(DType.INT32, Category.TEMPORARY, "ints", shape);
        System.arraycopy(data, 0, t.storage.i, 0, data.length);
        return t;
    }

    /** Standard normal values times {@code std}, drawn from {@code rng}. */
    public static Tensor randn(Rng rng, float std, int... shape) {
        Tensor t = empty("randn", shape);
        rng.fillNormal(t.storage.f, 0, t.numel, std);
        return t;
    }

    /** Uniform values in [lo, hi), drawn from {@code rng}. */
    public static Tensor rand(Rng rng, float lo, float hi, int... shape) {
        Tensor t = empty("rand", shape);
        rng.fillUniform(t.storage.f, 0, t.numel, lo, hi);
        return t;
    }

    /** A view of {@code numel(shape)} elements of {@code base}'s storage starting at {@code offset}: flat buffers use it. */
    public static Tensor view(Tensor base, int offset, int... shape) {
        base.checkAlive("view");
        base.storage.retain();
        return new Tensor(base.storage, base.offset + offset, shape.clone());
    }

    // ---------------------------------------------------------------- identity and data

    public int[] shape() {
        return shape.clone();
    }

    public int dim() {
        return shape.length;
    }

    public int size(int axis) {
        return shape[Shape.axis(axis, shape.length, "size")];
    }

    public int numel() {
        return numel;
    }

    public DType dtype() {
        return storage.dtype;
    }

    public Storage storage() {
        return storage;
    }

    public int offset() {
        return offset;
    }

    public long bytes() {
        return (long) numel * storage.dtype.bytes;
    }

    public String name() {
        return name;
    }

    public Tensor name(String n) {
        this.name = n;
        return this;
    }

    /** The FP32 array behind this tensor; elements live at [offset(), offset() + numel()). */
    public float[] data() {
        checkAlive("data");
        if (storage.dtype != DType.FP32) throw new IllegalStateException("tensor is " + storage.dtype + ", not FP32");
        return storage.f;
    }

    public int[] intData() {
        checkAlive("intData");
        if (storage.dtype != DType.INT32) throw new IllegalStateException("tensor is " + storage.dtype + ", not INT32");
        return storage.i;
    }

    public short[] shortData() {
        checkAlive("shortData");
        if (storage.s == null) throw new IllegalStateException("tensor is " + storage.dtype + ", not a 16-bit format");
        return storage.s;
    }

    public byte[] byteData() {
        checkAlive("byteData");
        if (storage.b == null) throw new IllegalStateException("tensor is " + storage.dtype + ", not a byte format");
        return storage.b;
    }

    /** A copy of the elements as floats (any floating dtype, decoded). */
    public float[] toFloatArray() {
        checkAlive("toFloatArray");
        if (storage.dtype == DType.FP32) return Arrays.copyOfRange(storage.f, offset, offset + numel);
        if (storage.dtype == DType.INT32) {
            float[] r = new float[numel];
            for (int k = 0; k < numel; k++) r[k] = storage.i[offset + k];
            return r;
        }
        return Casts.decode(this);
    }

    public float item() {
        if (numel != 1) throw new IllegalStateException("item() needs one element, tensor has shape " + Shape.str(shape));
        return toFloatArray()[0];
    }

    public float get(int... index) {
        return toFloatArray()[Shape.flatIndex(shape, index)];
    }

    public void checkAlive(String op) {
        if (released || storage.freed()) {
            throw new IllegalStateException(op + ": tensor " + describe() + " was released and cannot be used");
        }
    }

    public boolean isReleased() {
        return released || storage.freed();
    }

    /** Drops this handle. The storage is freed when no other handle and no saving node holds it. */
    public void release() {
        if (released) throw new IllegalStateException("tensor " + describe() + " released twice");
        released = true;
        storage.release("release");
    }

    /** Turns this handle into a saved reference of a node (see {@link Node#save}). */
    void markSaved(String by) {
        nodeOwned = true;
        storage.markSaved(by);
    }

    /** Releases a handle made by {@link #markSaved}. */
    void releaseSaved(String by) {
        if (released) throw new IllegalStateException("saved tensor " + describe() + " released twice");
        released = true;
        storage.releaseSaved(by);
    }

    /**
     * A handle held for a later backward computation, counted as ACTIVATION until {@link #releaseSavedForBackward()}:
     * what a node's {@code save} does, for code outside a node (activation checkpointing keeps a segment's inputs
     * this way). Not registered with any scope.
     */
    public Tensor saveForBackward() {
        Tensor a = alias();
        a.markSaved("save_for_backward");
        return a;
    }

    /** Releases a handle made by {@link #saveForBackward()}. */
    public void releaseSavedForBackward() {
        releaseSaved("save_for_backward");
    }

    /** Releases unless already released: for owners that may share a handle with a scope. */
    public void releaseIfAlive() {
        if (!released) release();
    }

    String describe() {
        return (name != null ? name + " " : "") + storage.dtype + Shape.str(shape) + " from " + storage.op();
    }

    @Override
    public String toString() {
        if (isReleased()) return "Tensor(" + describe() + ", released)";
        float[] v = toFloatArray();
        String body = v.length <= 8 ? Arrays.toString(v) : Arrays.toString(Arrays.copyOf(v, 8)) + "...";
        return "Tensor(" + describe() + ", " + body + (gradFn != null ? ", grad_fn=" + gradFn.name() : "") + ")";
    }

    // ---------------------------------------------------------------- autograd

    public boolean requiresGrad() {
        return requiresGrad;
    }

    /** Marks a leaf as requiring gradients. */
    public Tensor requiresGrad(boolean on) {
        if (gradFn != null) throw new IllegalStateException("requiresGrad can only be set on a leaf tensor; this one comes from " + gradFn.name());
        if (on && !storage.dtype.isFloating()) throw new IllegalStateException("only floating tensors can require gradients");
        requiresGrad = on;
        return this;
    }

    public boolean isLeaf() {
        return gradFn == null;
    }

    /**
     * Gradient-ready hook (PyTorch's {@code register_post_accumulate_grad_hook}, DDP's and ZeRO's bucket trigger): in
     * {@code backward()} this leaf's gradient is no longer added to {@link #grad()}; the engine sums its contributions
     * and calls {@code hook} once, with the sum, when no further contribution can arrive in that backward (every edge
     * into the leaf from the graph being run has delivered or been skipped), so a recomputation under checkpointing,
     * whose nodes never run, cannot fire it twice. The sum belongs to the engine and is released when the hook returns.
     * {@code Engine.grad} does not call it; null removes the hook.
     */
    public void onGradientReady(java.util.function.Consumer<Tensor> hook) {
        if (gradFn != null) throw new IllegalStateException("a gradient-ready hook needs a leaf; this tensor comes from " + gradFn.name());
        ((Tensor) gradKey).gradientReady = hook;
    }

    /**
     * Makes this leaf handle stand for {@code leaf} in autograd: gradients recorded through it are delivered to
     * {@code leaf}'s {@code .grad()} or gradient-ready hook, as through an alias. A ZeRO-3 parameter is gathered into a
     * fresh buffer for each use, and every such view must reach the one leaf its hook is registered on. Copies the
     * leaf's requires-grad flag and name.
     */
    public Tensor sameLeafAs(Tensor leaf) {
        if (gradFn != null || leaf.gradFn != null) throw new IllegalStateException("sameLeafAs: both tensors must be leaves");
        requiresGrad = leaf.requiresGrad;
        gradKey = leaf.gradKey;
        name = leaf.name;
        return this;
    }

    public Node gradFn() {
        return gradFn;
    }

    /** The accumulated gradient of a leaf, or null. */
    public Tensor grad() {
        return grad;
    }

    /** Sets (or with null clears, releasing the old one) the gradient buffer, e.g. a view into a flat gradient buffer. */
    public void grad(Tensor g) {
        if (grad != null && grad != g) grad.releaseIfAlive();
        grad = g;
    }

    /**
     * Clears the gradient: releases an owned buffer, zero-fills a persistent one (a flat-buffer view) and drops the
     * graph a createGraph backward left on it.
     */
    public void zeroGrad() {
        if (grad == null) return;
        if (grad.storage.category() == Category.GRADIENT && !grad.isReleased()) {
            Arrays.fill(grad.storage.f, grad.offset, grad.offset + grad.numel, 0f);
            if (grad.gradFn != null) {
                Tensor plain = grad.detach();
                grad.release();
                grad = plain;
            }
        } else {
            grad.releaseIfAlive();
            grad = null;
        }
    }

    /** A new handle to the same storage, with no history. */
    public Tensor detach() {
        checkAlive("detach");
        storage.retain();
        return new Tensor(storage, offset, shape);
    }

    /** A new handle to the same storage that keeps the autograd identity; not registered with any scope. */
    Tensor alias() {
        checkAlive("alias");
        storage.retain();
        Tensor t = new Tensor(storage, offset, shape, false);
        t.requiresGrad = requiresGrad;
        t.gradFn = gradFn;
        t.gradKey = gradKey;
        t.name = name;
        return t;
    }

    /**
     * A second handle to the same storage that keeps the autograd identity (same producer, same leaf). Backward rules
     * return it where a gradient passes through unchanged; the caller owns and releases it.
     */
    public Tensor share() {
        Tensor t = alias();
        if (!storage.category().persistent()) Scope.register(t);
        return t;
    }

    /** Gradient of this scalar with respect to every leaf that requires it, accumulated into {@code .grad()}. */
    public void backward() {
        Engine.backward(this, null, false, false);
    }

    public void backward(Tensor gradOutput, boolean retainGraph, boolean createGraph) {
        Engine.backward(this, gradOutput, retainGraph, createGraph);
    }

    // ---------------------------------------------------------------- conversions

    /**
     * Converts to another floating dtype with round-to-nearest-even; FP32 → FP32 is a copy. The copy is a TEMPORARY,
     * released by the enclosing {@link Scope}, whatever this tensor's category (casting a parameter every step must
     * not leave a parameter-sized buffer behind each time); see {@link #to(DType, Overflow, Category)} for a
     * persistent copy.
     */
    public Tensor to(DType target, Overflow overflow) {
        return Casts.convert(this, target, overflow, Category.TEMPORARY);
    }

    /** Like {@link #to(DType, Overflow)}, accounted under {@code category}: a persistent one is never released by a scope. */
    public Tensor to(DType target, Overflow overflow, Category category) {
        return Casts.convert(this, target, overflow, category);
    }

    public Tensor to(DType target) {
        return to(target, Overflow.SATURATE);
    }

    // ---------------------------------------------------------------- ops (see dev.memwall.ops.F)

    public Tensor add(Tensor o) { return F.add(this, o); }
    public Tensor sub(Tensor o) { return F.sub(this, o); }
    public Tensor mul(Tensor o) { return F.mul(this, o); }
    public Tensor div(Tensor o) { return F.div(this, o); }
    public Tensor add(float c) { return F.addScalar(this, c); }
    public Tensor mul(float c) { return F.mulScalar(this, c); }
    public Tensor neg() { return F.mulScalar(this, -1f); }
    public Tensor exp() { return F.exp(this); }
    public Tensor log() { return F.log(this); }
    public Tensor tanh() { return F.tanh(this); }
    public Tensor pow(float p) { return F.pow(this, p); }
    public Tensor sum() { return F.sumAll(this); }
    public Tensor mean() { return F.meanAll(this); }
    public Tensor sum(int axis, boolean keepDim) { return F.sum(this, axis, keepDim); }
    public Tensor mean(int axis, boolean keepDim) { return F.mean(this, axis, keepDim); }
    public Tensor matmul(Tensor o) { return F.matmul(this, o, false, false); }
    public Tensor reshape(int... newShape) { return F.reshape(this, newShape); }
    public Tensor permute(int... axes) { return F.permute(this, axes); }
    public Tensor transpose(int a, int b) { return F.transpose(this, a, b); }
    public Tensor slice(int axis, int start, int end) { return F.slice(this, axis, start, end); }
    public Tensor expand(int... newShape) { return F.expand(this, newShape); }
    public Tensor softmax() { return F.softmax(this); }
    public Tensor logSoftmax() { return F.logSoftmax(this); }
    public Tensor gelu() { return F.gelu(this); }
}
