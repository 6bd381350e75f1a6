package dev.memwall.generate;

import dev.memwall.autograd.DType;
import dev.memwall.autograd.Tensor;
import dev.memwall.memory.Category;

/**
 * Keys and values of every attention layer for the positions seen so far: per layer one K and one V of shape
 * [heads, context, headDim], preallocated for the model's whole context and counted as {@link Category#KV_CACHE}
 * until {@link #close()}: 2 · layers · context · dim · 4 bytes. Head-major, so the first n positions of one head are
 * n·headDim contiguous floats, which is what a batched GEMM over the heads reads without any copy.
 */
public final class KvCache implements AutoCloseable {
    private final Tensor[] keys, values;
    private final int heads, context, headDim;
    private int length;

    public KvCache(int layers, int heads, int context, int headDim) {
        this.heads = heads;
        this.context = context;
        this.headDim = headDim;
        keys = new Tensor[layers];
        values = new Tensor[layers];
        for (int l = 0; l < layers; l++) {
            keys[l] = Tensor.empty(DType.FP32, Category.KV_CACHE, "kv_cache", heads, context, headDim);
            values[l] = Tensor.empty(DType.FP32, Category.KV_CACHE, "kv_cache", heads, context, headDim);
        }
    }

    /** Positions held (the same in every layer). */
    public int length() {
        return length;
    }

    public int context() {
        return context;
    }

    /** Forgets every position; the buffers stay allocated. */
    public void clear() {
        length = 0;
    }

    /** Marks {@code n} more positions as written (after every layer wrote them). */
    void advance(int n) {
        if (length + n > context) throw new IllegalStateException("KV cache holds " + length + " of " + context + " positions, cannot add " + n);
        length += n;
    }

    Tensor keys(int layer) {
        return keys[layer];
    }

    Tensor values(int layer) {
        return values[layer];
    }

    /** Offset in a layer's K or V of (head, position). */
    int at(int head, int position) {
        return (head * context + position) * headDim;
    }

    int heads() {
        return heads;
    }

    int headDim() {
        return headDim;
    }

    @Override
    public void close() {
        for (Tensor[] ts : new Tensor[][]{keys, values}) {
            for (Tensor t : ts) t.releaseIfAlive();
        }
    }
}
