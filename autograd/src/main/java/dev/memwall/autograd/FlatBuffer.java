package dev.memwall.autograd;

import dev.memwall.memory.Category;

/**
 * One contiguous accounted buffer that many tensors view at offsets: all parameters of a model in one array, all
 * their gradients in another. A sharded optimizer or a collective then works on plain ranges [from, to) of it.
 */
public final class FlatBuffer {
    private Tensor whole;
    private int used;
    private final String op;

    public FlatBuffer(DType dtype, Category category, int length, String op) {
        this.whole = Tensor.empty(dtype, category, op, length);
        this.op = op;
    }

    /** The next {@code numel(shape)} elements as a tensor of that shape. */
    public Tensor allocate(int... shape) {
        int n = Shape.numel(shape);
        if (used + n > whole.numel()) {
            throw new IllegalStateException("flat buffer of " + whole.numel() + " elements is full (asked for " + n + " more at " + used + ")");
        }
        Tensor v = Tensor.view(whole, used, shape);
        used += n;
        return v;
    }

    /** The whole buffer as one 1-D tensor. */
    public Tensor whole() {
        return whole;
    }

    public int length() {
        return whole.numel();
    }

    public int used() {
        return used;
    }

    /** Drops the buffer's own handle; the storage goes when every view has been released too. */
    public void release() {
        whole.releaseIfAlive();
    }

    /** Whether {@link #release()} has dropped the buffer (until {@link #reallocate}). */
    public boolean isReleased() {
        return whole.isReleased();
    }

    /**
     * A released buffer back, zero-filled, same dtype and length, accounted under {@code category}: for a buffer that
     * exists only part of the time (the FP32 gradients of {@code --grad-dtype bf16}, made for the update and released
     * after it). Views made before the release are not revived.
     */
    public void reallocate(Category category) {
        if (!whole.isReleased()) throw new IllegalStateException("flat buffer " + op + " is still allocated");
        whole = Tensor.empty(whole.dtype(), category, op, whole.numel());
    }
}
