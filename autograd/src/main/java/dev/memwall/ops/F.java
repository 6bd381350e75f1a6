package dev.memwall.ops;

import dev.memwall.autograd.Tensor;
import dev.memwall.rng.Rng;

/**
 * The functional API, like {@code torch.nn.functional}: every differentiable op in one place. Tensor's instance
 * methods forward here.
 *
 * <p>Every op allocates its result as a TEMPORARY tensor registered with the current {@link dev.memwall.autograd.Scope}
 * and, when recording, saves only what its backward rule reads. Each op supports second-order gradients.
 */
public final class F {
    private F() {
    }

    public static Tensor add(Tensor a, Tensor b) { return Arith.add(a, b); }
    public static Tensor sub(Tensor a, Tensor b) { return Arith.sub(a, b); }
    public static Tensor mul(Tensor a, Tensor b) { return Arith.mul(a, b); }
    public static Tensor div(Tensor a, Tensor b) { return Arith.div(a, b); }
    public static Tensor addScalar(Tensor x, float c) { return Arith.addScalar(x, c); }
    public static Tensor mulScalar(Tensor x, float c) { return Arith.mulScalar(x, c); }
    public static Tensor exp(Tensor x) { return Arith.exp(x); }
    public static Tensor log(Tensor x) { return Arith.log(x); }
    public static Tensor tanh(Tensor x) { return Arith.tanh(x); }
    public static Tensor pow(Tensor x, float p) { return Arith.pow(x, p); }

    public static Tensor sum(Tensor x, int axis, boolean keepDim) { return Reduce.sum(x, axis, keepDim); }
    public static Tensor mean(Tensor x, int axis, boolean keepDim) { return Reduce.mean(x, axis, keepDim); }
    public static Tensor sumAll(Tensor x) { return Reduce.sumAll(x); }
    public static Tensor meanAll(Tensor x) { return Reduce.meanAll(x); }
    /** Broadcasts (materializing) to {@code shape}. */
    public static Tensor expand(Tensor x, int... shape) { return Reduce.expand(x, shape); }
    /** Sums down to {@code shape}: the adjoint of {@link #expand}. */
    public static Tensor sumTo(Tensor x, int... shape) { return Reduce.sumTo(x, shape); }

    /** op(a) · op(b) over the last two axes, batched over leading axes; a 2-D operand is shared across the batch. */
    public static Tensor matmul(Tensor a, Tensor b, boolean transA, boolean transB) { return MatMul.matmul(a, b, transA, transB); }

    /** x · wᵀ + b with PyTorch's layout: w is [out, in], b is [out] or null. */
    public static Tensor linear(Tensor x, Tensor w, Tensor b) {
        LinearAutocast.Policy p = LinearAutocast.current(); // a precision policy (FP8 autocast) takes the GEMM over
        return p != null ? LinearAutocast.apply(p, x, w, b) : LinearOp.linear(x, w, b);
    }

    /**
     * {@code x} converted to {@code dtype} (round to nearest even; beyond the format's range infinity, as PyTorch's
     * {@code x.to(dtype)}), recording a node: the gradient flows back cast to {@code x}'s format. A TEMPORARY copy,
     * released by the enclosing scope.
     */
    public static Tensor cast(Tensor x, dev.memwall.autograd.DType dtype) {
        return CastOp.cast(x, dtype, dev.memwall.format.Overflow.NON_SATURATE, dev.memwall.memory.Category.TEMPORARY);
    }

    /** {@link #cast(Tensor, dev.memwall.autograd.DType)} accounted under {@code category} (a persistent copy its owner releases). */
    public static Tensor cast(Tensor x, dev.memwall.autograd.DType dtype, dev.memwall.format.Overflow overflow,
                              dev.memwall.memory.Category category) {
        return CastOp.cast(x, dtype, overflow, category);
    }

    public static Tensor reshape(Tensor x, int... shape) { return Views.reshape(x, shape); }
    public static Tensor permute(Tensor x, int... axes) { return Views.permute(x, axes); }
    public static Tensor transpose(Tensor x, int a, int b) { return Views.transpose(x, a, b); }
    public static Tensor slice(Tensor x, int axis, int start, int end) { return Views.slice(x, axis, start, end); }
    public static Tensor pad(Tensor x, int axis, int start, int axisLen) { return Views.pad(x, axis, start, axisLen); }
    public static Tensor concat(int axis, Tensor... xs) { return Views.concat(axis, xs); }

    /** Splits along {@code axis} into pieces of {@code size} (the last may be shorter). */
    public static Tensor[] split(Tensor x, int size, int axis) {
        int len = x.size(axis);
        int n = (len + size - 1) / size;
        Tensor[] r = new Tensor[n];
        for (int k = 0; k < n; k++) r[k] = Views.slice(x, axis, k * size, Math.min(len, (k + 1) * size));
        return r;
    }

    public static Tensor embedding(Tensor table, Tensor ids) { return Index.embedding(table, ids); }
    public static Tensor scatterAddRows(Tensor g, Tensor ids, int rows) { return Index.scatterAddRows(g, ids, rows); }

    public static Tensor softmax(Tensor x) { return Nn.softmax(x); }
    /** softmax(causalMask(x · scale, -inf)) over the last two (square) axes, fused: saves only the probabilities. */
    public static Tensor causalSoftmax(Tensor x, float scale) { return Attention.causalSoftmax(x, scale); }
    public static Tensor logSoftmax(Tensor x) { return Nn.logSoftmax(x); }
    public static Tensor layerNorm(Tensor x, Tensor w, Tensor b, float eps) { return Nn.layerNorm(x, w, b, eps); }
    public static Tensor gelu(Tensor x) { return Nn.gelu(x); }
    public static Tensor crossEntropy(Tensor logits, Tensor targets) { return Nn.crossEntropy(logits, targets, -100); }
    public static Tensor crossEntropy(Tensor logits, Tensor targets, int ignoreIndex) { return Nn.crossEntropy(logits, targets, ignoreIndex); }

    /** Sets positions above the diagonal of the last two axes to {@code value} (-inf before a softmax). */
    public static Tensor causalMask(Tensor x, float value) { return Masking.causalFill(x, value); }
    public static Tensor dropout(Tensor x, float p, boolean training, Rng rng) { return Masking.dropout(x, p, training, rng); }
    public static Tensor dropout(Tensor x, float p, boolean training) { return Masking.dropout(x, p, training, Rng.defaultRng()); }
    public static Tensor maskScale(Tensor x, Tensor mask, float scale) { return Masking.maskScale(x, mask, scale); }

    /** Reference implementations from primitive ops, for tests and for second-order rules. */
    public static Tensor layerNormReference(Tensor x, Tensor w, Tensor b, float eps) {
        Tensor y = Nn.normalize(x, w, eps);
        if (b == null) return y;
        Tensor r = Arith.add(y, b);
        y.release();
        return r;
    }

    public static Tensor geluReference(Tensor x) { return Nn.geluReference(x); }
}
