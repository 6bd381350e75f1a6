/**
 * FP8 training recipes with real 8-bit storage, after NVIDIA Transformer Engine and torchao.
 *
 * <p>Configuration apart from kernels: the recipes ({@link dev.memwall.precision.fp8.DelayedScaling},
 * {@link dev.memwall.precision.fp8.CurrentScaling}, {@link dev.memwall.precision.fp8.Mxfp8BlockScaling},
 * {@link dev.memwall.precision.fp8.BlockScaling}) are immutable records; {@link dev.memwall.precision.fp8.ScaleMath}
 * turns an amax into a scale; {@link dev.memwall.precision.fp8.Fp8Quantizer} quantizes an FP32 tensor into an
 * {@link dev.memwall.precision.fp8.Fp8Tensor} (code bytes and per-tile scales, both accounted tensors);
 * {@link dev.memwall.precision.fp8.Fp8Gemm} multiplies two of them exactly as FP8 × FP8 products with FP32
 * accumulation; {@link dev.memwall.precision.fp8.Fp8State} holds delayed scaling's amax histories per tensor role
 * (saved and resumed bit for bit); {@link dev.memwall.precision.fp8.Fp8Linear} is the differentiable FP8 linear op.
 */
package dev.memwall.precision.fp8;
