package dev.memwall.ops;

import dev.memwall.autograd.CastPolicy;
import dev.memwall.autograd.Node;
import dev.memwall.autograd.OpStats;
import dev.memwall.autograd.Shape;
import dev.memwall.autograd.Tensor;
import dev.memwall.kernels.AttentionKernel;

/**
 * Causal multi-head self-attention as two fused ops on the qkv projection's output [B, T, 3D] (PyTorch's layout:
 * channels [0, D) q, [D, 2D) k, [2D, 3D) v; head h uses [h·hd, (h+1)·hd) of each; scale 1/√hd):
 *
 * <pre>{@code
 * Tensor p = FusedAttention.probs(qkv, heads);        // [B, H, T, T], softmax(mask(q·kᵀ·scale)); records no graph
 * Tensor y = FusedAttention.attend(qkv, p, heads);    // [B, T, D], the heads' P·v merged; differentiable in qkv
 * }</pre>
 *
 * <p>{@code attend}'s node saves qkv and p — the bytes the composed path saves as q, k, v and the probabilities — and
 * its gradient with respect to qkv covers both paths, through v and through p = probs(qkv), in one pass per head that
 * writes one [B, T, 3D] gradient (no full-size partial gradients per slice, no [B, H, T, T] tensors besides p).
 * The probabilities are a separate value so that model code can mark them {@code Recompute.of} like any other: under
 * selective recomputation the node then saves a recipe for them instead.
 *
 * <p>Second order: the node's composable {@code backward} (createGraph) recomputes the attention from qkv with the
 * primitive differentiable ops ({@link #composed}) and takes that vector-Jacobian product (see {@code Decomposed}),
 * so Hessian-vector products are exact; the fused kernel is the first-order rule only. No dropout on the
 * probabilities: callers that need attention dropout use the composed ops.
 */
public final class FusedAttention {
    private FusedAttention() {
    }

    /**
     * The attention probabilities of {@code qkv} [B, T, 3D] with {@code heads} heads: [B, H, T, T], exactly 0 above
     * the diagonal. No graph is recorded: the value is only meant as {@link #attend}'s second argument, whose
     * gradient already includes the path through it.
     */
    public static Tensor probs(Tensor qkv, int heads) {
        Tensor cast = CastPolicy.apply("causal_attention_probs", 0, qkv);
        try {
            return probsOf(cast, heads);
        } finally {
            CastOp.releaseCopy(cast, qkv);
        }
    }

    private static Tensor probsOf(Tensor qkv, int heads) {
        int[] s = dims("causal_attention_probs", qkv, heads);
        int b = s[0], t = s[1], h = heads, hd = s[2] / heads;
        OpStats.Frame frame = OpStats.begin("causal_attention_probs");
        Tensor p = Tensor.forOverwrite("causal_attention_probs", b, h, t, t); // every row: softmax, zeros above
        Tensor q32 = CastOp.fp32(qkv);
        AttentionKernel.probs(q32.data(), q32.offset(), p.data(), 0, b, t, h, hd, scale(hd));
        CastOp.releaseCopy(q32, qkv);
        if (frame != null) frame.end(2.0 * b * h * AttentionKernel.scorePairs(t) * hd + Costs.SOFTMAX_FORWARD * Costs.causalElements(b * h, t),
                2.0 * qkv.numel() / 3 * 4 + OpStats.bytes(p)); // reads q and k, writes p
        return p;
    }

    /**
     * Every head's {@code probs · v} merged into [B, T, D] (before the output projection). {@code probs} must be
     * {@link #probs}{@code (qkv, heads)}: the gradient with respect to qkv is taken through it too.
     */
    public static Tensor attend(Tensor qkv, Tensor probs, int heads) {
        Tensor qc = CastPolicy.apply("causal_attention", 0, qkv), pc = CastPolicy.apply("causal_attention", 1, probs);
        try {
            return attendOf(qc, pc, heads);
        } finally {
            CastOp.releaseCopy(qc, qkv);
            CastOp.releaseCopy(pc, probs);
        }
    }

    private static Tensor attendOf(Tensor qkv, Tensor probs, int heads) {
        int[] s = dims("causal_attention", qkv, heads);
        int b = s[0], t = s[1], d = s[2], hd = d / heads;
        probs.checkAlive("causal_attention");
        if (!probs.dtype().isFloating()) throw new IllegalArgumentException("causal_attention: probabilities must be floating, got " + probs.dtype());
        if (!java.util.Arrays.equals(probs.shape(), new int[]{b, heads, t, t})) {
            throw new IllegalArgumentException("causal_attention: probabilities must be [" + b + ", " + heads + ", " + t
                    + ", " + t + "] for qkv " + Shape.str(qkv.shape()) + ", got " + Shape.str(probs.shape()));
        }
        if (probs.requiresGrad()) {
            throw new IllegalArgumentException("causal_attention: the probabilities must come from FusedAttention.probs, "
                    + "which records no graph; got " + Shape.str(probs.shape()) + " with a gradient history");
        }
        OpStats.Frame frame = OpStats.begin("causal_attention");
        Tensor out = Tensor.forOverwrite("causal_attention", b, t, d); // every head scatters into it
        Tensor q32 = CastOp.fp32(qkv), p32 = CastOp.fp32(probs);
        AttentionKernel.attend(q32.data(), q32.offset(), p32.data(), p32.offset(), out.data(), 0, b, t, heads, hd);
        CastOp.releaseCopy(q32, qkv);
        CastOp.releaseCopy(p32, probs);
        if (frame != null) frame.end(2.0 * b * heads * AttentionKernel.scorePairs(t) * hd, qkv.numel() / 3 * 4.0 + OpStats.bytes(probs, out));
        if (!Node.shouldRecord(qkv)) return out;
        return new AttendNode(qkv, probs, heads).attach(out);
    }

    /**
     * The same attention with primitive differentiable ops (slice, permute, matmul, causal softmax): what
     * {@code CausalSelfAttention} ran before the fused ops, and the rule the fused node differentiates under createGraph.
     */
    public static Tensor composed(Tensor qkv, int heads) {
        if (qkv.dtype() != dev.memwall.autograd.DType.FP32) { // saved in a low format under autocast: slices are FP32 ops
            Tensor up = CastOp.cast(qkv, dev.memwall.autograd.DType.FP32, dev.memwall.format.Overflow.SATURATE,
                    dev.memwall.memory.Category.TEMPORARY);
            Tensor r = composed(up, heads);
            up.release();
            return r;
        }
        int[] s = dims("causal_attention", qkv, heads);
        int b = s[0], t = s[1], d = s[2], hd = d / heads;
        Tensor q = headLayout(qkv, 0, b, t, heads, hd), k = headLayout(qkv, 1, b, t, heads, hd);
        Tensor v = headLayout(qkv, 2, b, t, heads, hd);
        Tensor scores = MatMul.matmul(q, k, false, true);
        Tensor p = Attention.causalSoftmax(scores, scale(hd));
        Tensor y = MatMul.matmul(p, v, false, false);
        Tensor merged = Views.permute(y, 0, 2, 1, 3);
        Tensor r = Views.reshape(merged, b, t, d);
        Rel.all(q, k, v, scores, p, y, merged);
        return r;
    }

    private static Tensor headLayout(Tensor qkv, int which, int b, int t, int heads, int hd) {
        int d = heads * hd;
        Tensor part = Views.slice(qkv, 2, which * d, (which + 1) * d);
        Tensor split = Views.reshape(part, b, t, heads, hd);
        Tensor r = Views.permute(split, 0, 2, 1, 3);
        Rel.all(part, split);
        return r;
    }

    static float scale(int hd) {
        return (float) (1.0 / Math.sqrt(hd));
    }

    /** [B, T, D] of a qkv tensor [B, T, 3D], checked. */
    private static int[] dims(String op, Tensor qkv, int heads) {
        qkv.checkAlive(op);
        if (!qkv.dtype().isFloating()) throw new IllegalArgumentException(op + ": qkv must be floating, got " + qkv.dtype());
        int[] s = qkv.shape();
        if (s.length != 3 || s[2] % 3 != 0) {
            throw new IllegalArgumentException(op + ": qkv must be [B, T, 3·D], got " + Shape.str(s));
        }
        int d = s[2] / 3;
        if (heads <= 0 || d % heads != 0) {
            throw new IllegalArgumentException(op + ": width " + d + " of qkv " + Shape.str(s) + " is not divisible into "
                    + heads + " heads");
        }
        return new int[]{s[0], s[1], d};
    }

    private static final class AttendNode extends Node {
        private final int heads;
        private final int[] shape;
        private final int savedQkv, savedProbs;

        AttendNode(Tensor qkv, Tensor probs, int heads) {
            super("causal_attention", qkv);
            this.heads = heads;
            this.shape = qkv.shape();
            savedQkv = save(qkv);
            savedProbs = save(probs);
        }

        @Override
        protected Tensor[] backward(Tensor g) {
            return Decomposed.vjp(in -> composed(in[0], heads), new Tensor[]{saved(savedQkv)}, new boolean[]{true}, g);
        }

        @Override
        protected Tensor[] backwardFast(Tensor g) {
            Tensor qkvSaved = saved(savedQkv), pSaved = saved(savedProbs);
            Tensor qkv = CastOp.fp32(qkvSaved), p = CastOp.fp32(pSaved);
            int b = shape[0], t = shape[1], hd = shape[2] / 3 / heads;
            OpStats.Frame frame = OpStats.begin("causal_attention");
            Tensor dqkv = Tensor.forOverwrite("causal_attention.backward", shape); // the kernel writes every element
            AttentionKernel.backward(qkv.data(), qkv.offset(), p.data(), p.offset(), g.data(), g.offset(), dqkv.data(), 0,
                    b, t, heads, hd, scale(hd));
            if (frame != null) frame.end(8.0 * b * heads * AttentionKernel.scorePairs(t) * hd + Costs.SOFTMAX_BACKWARD * Costs.causalElements(b * heads, t),
                    OpStats.bytes(qkv, p, g, dqkv));
            CastOp.releaseCopy(qkv, qkvSaved);
            CastOp.releaseCopy(p, pSaved);
            return new Tensor[]{dqkv};
        }
    }
}
