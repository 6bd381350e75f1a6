package dev.memwall.kernels;

import dev.memwall.memory.ArrayCache;

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
 * <p>The mask is causal, so the GEMMs skip most of its masked half: query rows go in blocks of {@link #BLOCK}, and a
 * block's products (scores q·kᵀ, dP = dO·vᵀ, P·v, dS·k) cover only the keys up to the block's last row; the products
 * over key rows (dV = Pᵀ·dO, dK = dSᵀ·q) take, for a block of keys, only the queries from its first row on. Entries
 * above the diagonal inside a block are still multiplied (and then masked, or multiplied by the zeros of P and dS), so
 * the work is {@link #scorePairs}(T) score entries per GEMM and head instead of T²: at T = 128 and blocks of 32,
 * 5/8 of it. The results are those of the full products up to the order of summation (the skipped terms are exact
 * zeros).
 *
 * <p>Scratch is taken per chunk of tasks from {@link ArrayCache} and counted as TEMPORARY while held, so the memory
 * figures stay exact. Every task writes disjoint elements of the outputs, so results do not depend on the split.
 */
public final class AttentionKernel {
    private static final String SCRATCH = "attention.scratch";
    /**
     * Query rows per block (and key rows per block in the products over keys). Smaller blocks skip more of the masked
     * half but make smaller, less efficient GEMM calls; {@code -Dmemwall.attention.block} overrides it for measurement.
     */
    static final int BLOCK = Integer.getInteger("memwall.attention.block", 32);

    private AttentionKernel() {
    }

    /**
     * p[b, h] = causal softmax(q·kᵀ·scale) for every batch entry and head: [B, H, T, T] at {@code offP}, masked entries
     * exactly 0.
     */
    public static void probs(float[] qkv, int offQkv, float[] p, int offP, int batch, int t, int heads, int hd, float scale) {
        probs(qkv, offQkv, p, offP, batch, t, heads, hd, scale, BLOCK);
    }

    /** {@link #probs} with query blocks of {@code block} rows. */
    static void probs(float[] qkv, int offQkv, float[] p, int offP, int batch, int t, int heads, int hd, float scale,
                      int block) {
        checkBlock(block);
        int d = heads * hd;
        Parallel.range(batch * heads, cost(t, hd), (from, to) -> {
            try (TemporaryScratch s = new TemporaryScratch(2 * t * hd, SCRATCH)) {
                float[] q = s.a, k = s.a;
                float[][] expScratch = FastExp.scratch();
                int ok = t * hd;
                for (int task = from; task < to; task++) {
                    int b = task / heads, h = task % heads, base = offQkv + b * t * 3 * d;
                    gather(qkv, base + h * hd, 3 * d, q, 0, t, hd);
                    gather(qkv, base + d + h * hd, 3 * d, k, ok, t, hd);
                    int pp = offP + task * t * t;
                    for (int r0 = 0; r0 < t; r0 += block) { // S[r0..r1, 0..r1) = q[r0..r1)·k[0..r1)ᵀ
                        int r1 = Math.min(t, r0 + block);
                        Gemm.sgemm(false, true, r1 - r0, r1, hd, 1f, q, r0 * hd, hd, k, ok, hd, 0f, p, pp + r0 * t, t);
                    }
                    causalSoftmaxInPlace(p, pp, t, scale, expScratch); // reads only j ≤ i, writes the zeros above
                }
            }
        });
    }

    /** out[b, :, h·hd + j] = (p[b, h] · v[b, h])[:, j]: the heads' outputs merged into [B, T, D] at {@code offOut}. */
    public static void attend(float[] qkv, int offQkv, float[] p, int offP, float[] out, int offOut,
                              int batch, int t, int heads, int hd) {
        attend(qkv, offQkv, p, offP, out, offOut, batch, t, heads, hd, BLOCK);
    }

    /** {@link #attend} with query blocks of {@code block} rows. */
    static void attend(float[] qkv, int offQkv, float[] p, int offP, float[] out, int offOut,
                       int batch, int t, int heads, int hd, int block) {
        checkBlock(block);
        int d = heads * hd;
        Parallel.range(batch * heads, cost(t, hd), (from, to) -> {
            try (TemporaryScratch s = new TemporaryScratch(2 * t * hd, SCRATCH)) {
                float[] v = s.a, o = s.a;
                int oo = t * hd;
                for (int task = from; task < to; task++) {
                    int b = task / heads, h = task % heads;
                    gather(qkv, offQkv + b * t * 3 * d + 2 * d + h * hd, 3 * d, v, 0, t, hd);
                    int pp = offP + task * t * t;
                    for (int r0 = 0; r0 < t; r0 += block) { // o[r0..r1) = P[r0..r1, 0..r1)·v[0..r1)
                        int r1 = Math.min(t, r0 + block);
                        Gemm.sgemm(false, false, r1 - r0, hd, r1, 1f, p, pp + r0 * t, t, v, 0, hd, 0f, o, oo + r0 * hd, hd);
                    }
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
        backward(qkv, offQkv, p, offP, g, offG, dqkv, offD, batch, t, heads, hd, scale, BLOCK);
    }

    /** {@link #backward} with query (and key) blocks of {@code block} rows. */
    static void backward(float[] qkv, int offQkv, float[] p, int offP, float[] g, int offG, float[] dqkv, int offD,
                         int batch, int t, int heads, int hd, float scale, int block) {
        checkBlock(block);
        int d = heads * hd;
        Parallel.range(batch * heads, 2 * cost(t, hd), (from, to) -> {
            int th = t * hd;
            try (TemporaryScratch s = new TemporaryScratch(5 * th + t * t, SCRATCH)) {
                float[] w = s.a;
                int q = 0, k = th, v = 2 * th, dO = 3 * th, out = 4 * th, dp = 5 * th;
                for (int task = from; task < to; task++) {
                    int b = task / heads, h = task % heads, base = offQkv + b * t * 3 * d, dBase = offD + b * t * 3 * d;
                    int pp = offP + task * t * t;
                    gather(qkv, base + h * hd, 3 * d, w, q, t, hd);
                    gather(qkv, base + d + h * hd, 3 * d, w, k, t, hd);
                    gather(qkv, base + 2 * d + h * hd, 3 * d, w, v, t, hd);
                    gather(g, offG + b * t * d + h * hd, d, w, dO, t, hd);
                    for (int c0 = 0; c0 < t; c0 += block) { // dV[c0..c1) = P[c0..t, c0..c1)ᵀ·dO[c0..t)
                        int c1 = Math.min(t, c0 + block);
                        Gemm.sgemm(true, false, c1 - c0, hd, t - c0, 1f, p, pp + c0 * t + c0, t, w, dO + c0 * hd, hd,
                                0f, w, out + c0 * hd, hd);
                    }
                    scatter(w, out, dqkv, dBase + 2 * d + h * hd, 3 * d, t, hd);
                    for (int r0 = 0; r0 < t; r0 += block) { // dP[r0..r1, 0..r1) = dO[r0..r1)·v[0..r1)ᵀ
                        int r1 = Math.min(t, r0 + block);
                        Gemm.sgemm(false, true, r1 - r0, r1, hd, 1f, w, dO + r0 * hd, hd, w, v, hd, 0f, w, dp + r0 * t, t);
                    }
                    causalSoftmaxBackwardInPlace(p, pp, w, dp, t, scale); // dS in dP's place, 0 above the diagonal
                    for (int r0 = 0; r0 < t; r0 += block) { // dQ[r0..r1) = dS[r0..r1, 0..r1)·k[0..r1)
                        int r1 = Math.min(t, r0 + block);
                        Gemm.sgemm(false, false, r1 - r0, hd, r1, 1f, w, dp + r0 * t, t, w, k, hd, 0f, w, out + r0 * hd, hd);
                    }
                    scatter(w, out, dqkv, dBase + h * hd, 3 * d, t, hd);
                    for (int c0 = 0; c0 < t; c0 += block) { // dK[c0..c1) = dS[c0..t, c0..c1)ᵀ·q[c0..t)
                        int c1 = Math.min(t, c0 + block);
                        Gemm.sgemm(true, false, c1 - c0, hd, t - c0, 1f, w, dp + c0 * t + c0, t, w, q + c0 * hd, hd,
                                0f, w, out + c0 * hd, hd);
                    }
                    scatter(w, out, dqkv, dBase + d + h * hd, 3 * d, t, hd);
                }
            }
        });
    }

    /** Query rows per block in this process ({@link #BLOCK}). */
    public static int block() {
        return BLOCK;
    }

    /**
     * Score entries (i, j) one head's blocked GEMM covers at sequence length {@code t}: the pairs whose key j lies in a
     * block at or before query i's (T·(T+1)/2 plus the masked entries inside the diagonal blocks). Every GEMM of a task
     * multiplies {@code scorePairs(t) · hd} pairs of numbers, so it takes 2·scorePairs(t)·hd FLOPs.
     */
    public static long scorePairs(int t) {
        return scorePairs(t, BLOCK);
    }

    static long scorePairs(int t, int block) {
        checkBlock(block);
        if (t < 0) throw new IllegalArgumentException("sequence length must be >= 0, got " + t);
        long pairs = 0;
        for (int r0 = 0; r0 < t; r0 += block) {
            int r1 = Math.min(t, r0 + block);
            pairs += (long) (r1 - r0) * r1;
        }
        return pairs;
    }

    private static void checkBlock(int block) {
        if (block < 1) throw new IllegalArgumentException("attention block must be >= 1 rows, got " + block
                + " (-Dmemwall.attention.block)");
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
    static void causalSoftmaxInPlace(float[] x, int off, int t, float scale, float[][] expScratch) {
        for (int i = 0; i < t; i++) {
            int row = off + i * t;
            float max = Float.NEGATIVE_INFINITY;
            for (int j = 0; j <= i; j++) max = Math.max(max, x[row + j] * scale);
            float inv = 1f / FastExp.expSum(x, row, scale, max, x, row, i + 1, expScratch);
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

}
