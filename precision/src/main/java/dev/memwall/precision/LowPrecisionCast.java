package dev.memwall.precision;

import dev.memwall.autograd.Tensor;

/**
 * How an autocast region turns a GEMM operand into its low-precision form: the point where a per-operand format
 * (BF16, FP16) plugs in. (The FP8 recipes, which need scales inside the GEMM and E5M2 gradients, use
 * {@link dev.memwall.precision.fp8.Fp8Autocast} instead.) {@link Autocast} decides which operands are cast (the op table) and caches
 * weight copies; an implementation decides only the bytes.
 *
 * <p>Both methods must return a differentiable result (its gradient flows back to {@code x} or {@code w}), a new
 * handle the caller releases, or {@code x} itself when nothing needs to change.
 */
public interface LowPrecisionCast {
    /** A short name for reports and JSON: {@code "bf16"}, {@code "fp16"}. */
    String name();

    /** Operand {@code index} of {@code op}, an activation: a TEMPORARY copy in the low format. */
    Tensor castActivation(String op, int index, Tensor x);

    /**
     * A weight (an FP32 leaf that requires a gradient): the copy the region keeps until it ends, made once per region
     * and accounted under PARAMETER by the region's cache.
     */
    Tensor castWeight(String op, int index, Tensor w);
}
