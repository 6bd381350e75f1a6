/**
 * Compact storage formats for tensors: IEEE binary16 ({@link dev.memwall.format.Fp16}), bfloat16
 * ({@link dev.memwall.format.Bf16}) and the two OCP 8-bit floating-point formats
 * ({@link dev.memwall.format.Fp8E4M3}, {@link dev.memwall.format.Fp8E5M2}). Each format is a
 * stateless utility class that decodes exactly to {@code float} and encodes from {@code float}
 * with IEEE round-to-nearest-even, including subnormal results and the carry into the next
 * binade, while the treatment of values beyond the largest finite value is chosen explicitly by
 * the caller through {@link dev.memwall.format.Overflow}. Scalar conversions are implemented
 * with integer bit manipulation and the bulk {@code encode}/{@code decode} forms are plain,
 * allocation-free loops meant for the hot paths that pack and unpack tensor storage.
 *
 * <p>{@link dev.memwall.format.DynamicMap} and {@link dev.memwall.format.Blockwise8} are the block-wise 8-bit format of
 * 8-bit optimizers (bitsandbytes): a byte code per value into a 256-entry dynamic map, one FP32 absmax per block of 256.
 */
package dev.memwall.format;
