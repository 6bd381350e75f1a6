package dev.memwall.kernels;

import dev.memwall.memory.Category;
import dev.memwall.memory.MemoryTracker;
import org.bytedeco.javacpp.FloatPointer;

/**
 * {@link Gemm}'s per-thread workspace, grown to the largest GEMM seen on the thread: a heap array for split-K partial
 * sums (the only workspace of the no-copy path), on the staging path native buffers for the operands, and for a BF16
 * GEMM on the decoding path ({@link Sbgemm.Path#DECODE}) heap arrays for its operands decoded to FP32, or on memwall's own
 * kernel ({@link Sbgemm.Path#AVX512_BF16}) a heap array for its packed panels. Every byte is counted as {@link Category#WORKSPACE} by the
 * tracker that was current when it was allocated; when another tracker is installed, the next GEMM frees the
 * buffers (reported to the old tracker) and allocates them again under the new one, so no tracker sees bytes it
 * did not count or misses bytes in use.
 *
 * <p>The buffers are freed when the thread's outermost {@code Scope} closes (in training: at the end of each
 * micro-batch, so the workspace never outlives a step and every step's figures are the same) or by {@link #release()}.
 * This class loads no native BLAS code, so releasing from a thread that never ran a GEMM costs nothing.
 */
public final class GemmWorkspace {
    private static final String OP = "gemm.workspace";
    private static final ThreadLocal<GemmWorkspace> CURRENT = new ThreadLocal<>();

    FloatPointer a, b, c, partial;
    /** Heap arrays, one per use: split-K partial sums, then the two decoded operands of a BF16 GEMM. */
    private static final int SPLIT_K = 0, DECODED_A = 1, DECODED_B = 2;
    private final float[][] heap = {new float[0], new float[0], new float[0]};
    /** The packing buffer of memwall's own BF16 GEMM (pair-interleaved BF16 panels of A and B). */
    private short[] packed = new short[0];
    private MemoryTracker tracker;
    private long counted;

    private GemmWorkspace() {
    }

    /** This thread's workspace, counted by the current tracker. */
    static GemmWorkspace forThisThread() {
        GemmWorkspace w = CURRENT.get();
        if (w == null) {
            w = new GemmWorkspace();
            CURRENT.set(w);
        }
        MemoryTracker now = MemoryTracker.current();
        if (now != w.tracker) {
            w.free();
            w.tracker = now;
        }
        return w;
    }

    /** Frees this thread's workspace, if it has one. The next GEMM allocates again. */
    public static void release() {
        GemmWorkspace w = CURRENT.get();
        if (w != null) {
            w.free();
            CURRENT.remove();
        }
    }

    /** Bytes of workspace this thread holds. */
    public static long bytesHeld() {
        GemmWorkspace w = CURRENT.get();
        return w == null ? 0 : w.counted;
    }

    /** A heap array of at least {@code n} floats for split-K partial sums (kept, and counted, until released). */
    float[] scratch(int n) {
        return heap(SPLIT_K, n);
    }

    /** A heap array of at least {@code n} floats for a BF16 GEMM's A decoded to FP32 (kept until released). */
    float[] decodedA(int n) {
        return heap(DECODED_A, n);
    }

    /** As {@link #decodedA}, for B. */
    float[] decodedB(int n) {
        return heap(DECODED_B, n);
    }

    /** A heap array of at least {@code n} shorts for the BF16 kernel's packed panels (kept until released). */
    short[] packed(int n) {
        if (packed.length < n) {
            uncount(2L * packed.length);
            packed = new short[0];
            short[] grown = new short[n];
            count(2L * n);
            packed = grown;
        }
        return packed;
    }

    private float[] heap(int slot, int n) {
        if (heap[slot].length < n) {
            uncount(4L * heap[slot].length);
            heap[slot] = new float[0];
            float[] grown = new float[n];
            count(4L * n);
            heap[slot] = grown;
        }
        return heap[slot];
    }

    /** {@code p} if it holds {@code n} floats, else a new buffer in its place (the old one is freed first). */
    FloatPointer ensure(FloatPointer p, long n) {
        if (p != null && p.capacity() >= n) return p.position(0);
        try {
            if (p != null) {
                long old = 4L * p.capacity();
                p.close();
                uncount(old);
            }
            FloatPointer q = new FloatPointer(Math.max(n, 1L));
            count(4L * q.capacity());
            return q;
        } catch (RuntimeException | Error e) { // the caller's field still names the closed buffer: drop them all
            free();
            throw e;
        }
    }

    private void count(long bytes) {
        tracker.allocated(Category.WORKSPACE, bytes, OP);
        counted += bytes;
    }

    private void uncount(long bytes) {
        if (bytes == 0) return;
        tracker.released(Category.WORKSPACE, bytes, OP);
        counted -= bytes;
    }

    private void free() {
        for (FloatPointer p : new FloatPointer[]{a, b, c, partial}) if (p != null) p.close();
        a = b = c = partial = null;
        java.util.Arrays.fill(heap, new float[0]);
        packed = new short[0];
        if (counted > 0) tracker.released(Category.WORKSPACE, counted, OP);
        counted = 0;
    }
}
