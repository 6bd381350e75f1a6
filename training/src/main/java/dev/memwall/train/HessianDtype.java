package dev.memwall.train;

import dev.memwall.autograd.DType;
import dev.memwall.rop.GemmFormats;

import java.util.Locale;

/**
 * The {@code --hessian-dtype} setting: the operand format of the fused pass's tangent GEMMs, the six of a Linear
 * layer's nine GEMM-equivalents that compute H·z ({@code rop.GemmFormats}). BF16 operands with FP32 sums, in an
 * otherwise FP32 run: the gradient and the update stay FP32 (bit for bit the FP32 run's gradient). Why BF16 is enough:
 * Hutchinson's z ⊙ Hz has about 100% relative noise per sample, BF16 operand rounding is 2⁻⁹ relative. Only the fused
 * forward-over-reverse route reads it ({@link HessianPath}); the region and createGraph routes compute H·z in the run's
 * precision. Under BF16/FP16 autocast the tangents already follow autocast's format, so BF16 here is for FP32 runs.
 */
public enum HessianDtype {
    FP32(DType.FP32), BF16(DType.BF16);

    private final DType dtype;

    HessianDtype(DType dtype) {
        this.dtype = dtype;
    }

    /** The tangent GEMMs' operand format. */
    public DType dtype() {
        return dtype;
    }

    /** The formats of an FP32 pass with these tangent GEMMs. */
    public GemmFormats formats() {
        return GemmFormats.tangents(dtype);
    }

    /** fp32 or bf16 (case-insensitive), with a clear error for anything else. */
    public static HessianDtype parse(String s) {
        String v = s == null ? "" : s.trim().toLowerCase(Locale.ROOT);
        for (HessianDtype h : values()) if (h.label().equals(v)) return h;
        throw new IllegalArgumentException("unknown Hessian-vector product format '" + s + "': --hessian-dtype must be fp32 or bf16");
    }

    /** The name on the command line and in JSON. */
    public String label() {
        return name().toLowerCase(Locale.ROOT);
    }
}
