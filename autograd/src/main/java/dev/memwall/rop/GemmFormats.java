package dev.memwall.rop;

import dev.memwall.autograd.DType;

/**
 * The number formats of the fused pass's GEMM operands; every GEMM accumulates in FP32 whatever its operands.
 * {@code values} is the format of the GEMMs that compute primal values and the gradient (per Linear y = x·Wᵀ,
 * x̄ = ȳ·W, W̄ = ȳᵀ·x; the attention's q·kᵀ and P·v); {@code tangents} the format of the GEMMs that carry the
 * tangents, which end in H·z (per Linear ẋ·Wᵀ, x·Zᵀ, ẏ̄·W, ȳ·Z, ẏ̄ᵀ·x, ȳᵀ·ẋ: six of its nine GEMMs).
 * <ul>
 * <li>{@link #FP32}: everything FP32, the pass as it always was.
 * <li>{@link #autocast(DType)}: BF16 or FP16 autocast's rules (precision's {@code Autocast}, docs/precision.md): every
 * GEMM operand, value and tangent, rounded to the format (round to nearest even, no saturation), FP32 sums; layer
 * norm, softmax, GELU and the loss in FP32. The primal values are what an autocast step computes.
 * <li>{@link #tangents(DType)}: an FP32 pass whose tangent GEMMs alone take BF16 operands ({@code --hessian-dtype
 * bf16}): the gradient is bit for bit the FP32 pass's (no primal value reads a tangent), H·z carries BF16 operand
 * rounding (2⁻⁹ relative per operand), far below the Hutchinson estimate's own noise.
 * </ul>
 * BF16 operands go to {@code kernels.Gemm.sbgemm} (memwall's AVX512-BF16 kernel where the CPU has {@code avx512_bf16},
 * else decoded to FP32 and sgemm); FP16 ones are rounded and multiplied by sgemm (exact FP16 products, FP32 sums).
 */
public record GemmFormats(DType values, DType tangents) {
    /** Every operand FP32. */
    public static final GemmFormats FP32 = new GemmFormats(DType.FP32, DType.FP32);

    public GemmFormats {
        check(values, "values");
        check(tangents, "tangents");
        if (values != DType.FP32 && tangents != values) {
            throw new IllegalArgumentException("GEMM operands: under " + values + " autocast the tangents follow the same rules, got tangents "
                    + tangents);
        }
    }

    /** BF16 or FP16 autocast: value and tangent GEMM operands in {@code format}. */
    public static GemmFormats autocast(DType format) {
        if (format == DType.FP32) throw new IllegalArgumentException("autocast is to BF16 or FP16, not FP32");
        return new GemmFormats(format, format);
    }

    /** FP32 values and gradient, tangent GEMM operands in {@code format} (FP32: {@link #FP32}). */
    public static GemmFormats tangents(DType format) {
        return new GemmFormats(DType.FP32, format);
    }

    /** Whether every GEMM is FP32. */
    public boolean allFp32() {
        return values == DType.FP32 && tangents == DType.FP32;
    }

    private static void check(DType d, String what) {
        if (d != DType.FP32 && d != DType.BF16 && d != DType.FP16) {
            throw new IllegalArgumentException("GEMM operands (" + what + ") are FP32, BF16 or FP16, not " + d);
        }
    }
}
