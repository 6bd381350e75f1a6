package dev.memwall.kernels;

import dev.memwall.memory.ArrayCache;
import dev.memwall.memory.Category;
import dev.memwall.memory.MemoryTracker;

/**
 * Causal self-attention head by head, straight from the qkv projection's output [B, T, 3D] (channels [0, D) are q,
 * [D, 2D) k, [2D, 3D) v; head h uses [h·hd, (h+1)·hd) of each) to the merged heads [B, T, D], and back.
 *
 * <p>Each (batch, head) is one task: its q, k, v (T×hd each) are gathered into contiguous scratch, the scores and
 * probabilities (T×T) are computed in place, and the result is scattered straight into the merged layout. At the
 * benchmark shapes (T = 128, hd = 64) a task's working set is about 160 KB and stays in L2, where the composed path
 * made three full [B, T, 3D]-sized slices and permutes and sent the [B, H, T, T] scores through memory between ops.
 * Tasks are split over the cores by {@link Parallel}; their GEMMs are small enough to run on the task's thread.
 *
 * <p>Scratch is taken per chunk of tasks from {@link ArrayCache} and counted as TEMPORARY while held, so the memory
 * figures stay exact. Every task writes disjoint elements of the outputs, so results do not depend on the split.
 */
public final class AttentionKernel {
    private static final String SCRATCH = "attention.scratch";

    private AttentionKernel() {
    }

    /**
     * p[b, h] = causal softmax(q·kᵀ·scale) for every batch entry and head: [B, H, T, T] at {@code offP}, masked entries
     * exactly 0.
     */
    public static void probs(float[] qkv, int offQkv, float[] p, int offP, int batch, int t, int heads, int hd, float scale) {
        int d = heads * hd;
        Parallel.range(batch * heads, cost(t, hd), (from, to) -> {
            try (Scratch s = new Scratch(2 * t * hd)) {
                float[] q = s.a, k = s.a;
                int ok = t * hd;
                for (int task = from; task < to; task++) {
                    int b = task / heads, h = task % heads, base = offQkv + b * t * 3 * d;
                    gather(qkv, base + h * hd, 3 * d, q, 0, t, hd);
                    gather(qkv, base + d + h * hd, 3 * d, k, ok, t, hd);
                    int pp = offP + task * t * t;
                    Gemm.sgemm(false, true, t, t, hd, 1f, q, 0, k, ok, 0f, p, pp);
                    causalSoftmaxInPlace(p, pp, t, scale);
                }
            }
        });
    }

    /** out[b, :, h·hd + j] = (p[b, h] · v[b, h])[:, j]: the heads' outputs merged into [B, T, D] at {@code offOut}. */
    public static void attend(float[] qkv, int offQkv, float[] p, int offP, float[] out, int offOut,
                              int batch, int t, int heads, int hd) {
        int d = heads * hd;
        Parallel.range(batch * heads, cost(t, hd), (from, to) -> {
            try (Scratch s = new Scratch(2 * t * hd)) {
                float[] v = s.a, o = s.a;
                int oo = t * hd;
                for (int task = from; task < to; task++) {
                    int b = task / heads, h = task % heads;
                    gather(qkv, offQkv + b * t * 3 * d + 2 * d + h * hd, 3 * d, v, 0, t, hd);
                    Gemm.sgemm(false, false, t, hd, t, 1f, p, offP + task * t * t, v, 0, 0f, o, oo);
                    scatter(o, oo, out, offOut + b * t * d + h * hd, d, t, hd);
                }
            }
        });
    }

    /**
     * The gradient of {@link #attend}{@code (qkv, probs(qkv))} with respect to qkv, given the saved probabilities
     * {@code p} and the gradient {@code g} of the merged output [B, T, D]: per head dV = Pᵀ·dO, dP = dO·vᵀ,
     * dS = scale · P ∘ (dP − rowsum(dP ∘ P)) (zero where masked), dQ = dS·k, dK = dSᵀ·q, written into {@code dqkv}
     * [B, T, 3D] at the channels the head came from. Every element of dqkv is written.
     */
    public static void backward(float[] qkv, int offQkv, float[] p, int offP, float[] g, int offG, float[] dqkv, int offD,
                                int batch, int t, int heads, int hd, float scale) {
        int d = heads * hd;
        Parallel.range(batch * heads, 2 * cost(t, hd), (from, to) -> {
            int th = t * hd;
            try (Scratch s = new Scratch(5 * th + t * t)) {
                float[] w = s.a;
                int q = 0, k = th, v = 2 * th, dO = 3 * th, out = 4 * th, dp = 5 * th;
                for (int task = from; task < to; task++) {
                    int b = task / heads, h = task % heads, base = offQkv + b * t * 3 * d, dBase = offD + b * t * 3 * d;
                    int pp = offP + task * t * t;
                    gather(qkv, base + h * hd, 3 * d, w, q, t, hd);
                    gather(qkv, base + d + h * hd, 3 * d, w, k, t, hd);
                    gather(qkv, base + 2 * d + h * hd, 3 * d, w, v, t, hd);
                    gather(g, offG + b * t * d + h * hd, d, w, dO, t, hd);
                    Gemm.sgemm(true, false, t, hd, t, 1f, p, pp, w, dO, 0f, w, out); // dV = Pᵀ·dO
                    scatter(w, out, dqkv, dBase + 2 * d + h * hd, 3 * d, t, hd);
                    Gemm.sgemm(false, true, t, t, hd, 1f, w, dO, w, v, 0f, w, dp); // dP = dO·vᵀ
                    causalSoftmaxBackwardInPlace(p, pp, w, dp, t, scale);         // dS, in dP's place
                    Gemm.sgemm(false, false, t, hd, t, 1f, w, dp, w, k, 0f, w, out); // dQ = dS·k
                    scatter(w, out, dqkv, dBase + h * hd, 3 * d, t, hd);
                    Gemm.sgemm(true, false, t, hd, t, 1f, w, dp, w, q, 0f, w, out); // dK = dSᵀ·q
                    scatter(w, out, dqkv, dBase + d + h * hd, 3 * d, t, hd);
                }
            }
        });
    }

    /** Multiply-adds of one task's forward (two T×T×hd GEMMs), for {@link Parallel}'s split decision. */
    private static long cost(int t, int hd) {
        return 2L * t * t * hd;
    }

    /** rows × cols from a strided source (row stride {@code stride}) into a dense block. */
    private static void gather(float[] src, int off, int stride, float[] dst, int offDst, int rows, int cols) {
        for (int r = 0; r < rows; r++) System.arraycopy(src, off + r * stride, dst, offDst + r * cols, cols);
    }

    /** A dense rows × cols block into a strided destination (row stride {@code stride}). */
    private static void scatter(float[] src, int off, float[] dst, int offDst, int stride, int rows, int cols) {
        for (int r = 0; r < rows; r++) System.arraycopy(src, off + r * cols, dst, offDst + r * stride, cols);
    }

    /** Row i of the t×t block becomes softmax(x[i, 0..i]·scale) followed by zeros: the scale and the mask fused. */
    static void causalSoftmaxInPlace(float[] x, int off, int t, float scale) {
        for (int i = 0; i < t; i++) {
            int row = off + i * t;
            float max = Float.NEGATIVE_INFINITY;
            for (int j = 0; j <= i; j++) max = Math.max(max, x[row + j] * scale);
            float inv = 1f / FastExp.expSum(x, row, scale, max, x, row, i + 1);
            for (int j = 0; j <= i; j++) x[row + j] *= inv;
            java.util.Arrays.fill(x, row + i + 1, row + t, 0f);
        }
    }

    /** dS = scale · P ∘ (dP − rowsum(dP ∘ P)) over the visible triangle, zero above it, written over dP. */
    static void causalSoftmaxBackwardInPlace(float[] p, int offP, float[] dp, int offDp, int t, float scale) {
        for (int i = 0; i < t; i++) {
            int pr = offP + i * t, gr = offDp + i * t;
            float dot = 0f;
            for (int j = 0; j <= i; j++) dot += dp[gr + j] * p[pr + j];
            for (int j = 0; j <= i; j++) dp[gr + j] = scale * p[pr + j] * (dp[gr + j] - dot);
            java.util.Arrays.fill(dp, gr + i + 1, gr + t, 0f);
        }
    }

    /** One chunk's scratch array, from the array cache and counted as TEMPORARY until closed. */
    private static final class Scratch implements AutoCloseable {
        final float[] a;
        private final MemoryTracker tracker = MemoryTracker.current();

        Scratch(int floats) {
            a = ArrayCache.floats(floats);
            tracker.allocated(Category.TEMPORARY, 4L * a.length, SCRATCH);
        }

        @Override
        public void close() {
            tracker.released(Category.TEMPORARY, 4L * a.length, SCRATCH);
            ArrayCache.recycle(a);
        }
    }
}
