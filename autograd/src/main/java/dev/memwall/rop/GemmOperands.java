package dev.memwall.rop;

import dev.memwall.autograd.DType;
import dev.memwall.autograd.Tensor;
import dev.memwall.format.Fp16;
import dev.memwall.format.Overflow;
import dev.memwall.kernels.Bf16Arrays;
import dev.memwall.kernels.Gemm;
import dev.memwall.kernels.Parallel;
import dev.memwall.memory.Category;

import java.util.HashMap;
import java.util.Map;

/**
 * One pass's GEMM operands in the formats of its {@link GemmFormats}: activations and gradients are lowered per use
 * (a TEMPORARY the caller closes), a parameter's weight and its slice of z once per pass (kept until {@link #close()}).
 * In FP32 nothing is copied and every product is the plain {@code Gemm.sgemm} call the pass always made.
 */
final class GemmOperands implements AutoCloseable {
    /** An operand as a GEMM reads it: FP32 floats, or BF16 bit patterns; {@code owned} is released on close. */
    record Operand(float[] f, short[] s, int off, Tensor owned) implements AutoCloseable {
        @Override
        public void close() {
            if (owned != null) owned.releaseIfAlive();
        }

        /** The same data, not released by the returned handle. */
        Operand shared() {
            return new Operand(f, s, off, null);
        }
    }

    private final GemmFormats formats;
    private final Map<Integer, Operand> parameters = new HashMap<>();

    GemmOperands(GemmFormats formats) {
        this.formats = formats;
    }

    GemmFormats formats() {
        return formats;
    }

    /** {@code t} (FP32, contiguous) as an operand of a value GEMM. */
    Operand value(Tensor t) {
        return lower(formats.values(), t.data(), t.offset(), t.numel());
    }

    /** {@code t} as an operand of a tangent GEMM. */
    Operand tangent(Tensor t) {
        return lower(formats.tangents(), t.data(), t.offset(), t.numel());
    }

    /** {@code t} as a tangent GEMM's operand, sharing {@code asValue} (its value-GEMM form) where the formats agree. */
    Operand tangent(Tensor t, Operand asValue) {
        return formats.values() == formats.tangents() ? asValue.shared() : tangent(t);
    }

    /** Parameter {@code p}'s weight as a value ({@code tangent} false) or tangent GEMM's operand; owned by this pass. */
    Operand weight(Param p, boolean tangent) {
        DType f = tangent ? formats.tangents() : formats.values();
        if (f == DType.FP32) return new Operand(p.w(), null, p.wo(), null);
        return parameters.computeIfAbsent(2 * p.index(), k -> lower(f, p.w(), p.wo(), p.numel())).shared();
    }

    /** Parameter {@code p}'s slice of z as a tangent GEMM's operand; owned by this pass. */
    Operand direction(Param p) {
        DType f = formats.tangents();
        if (f == DType.FP32) return new Operand(p.z(), null, p.zOffset(), null);
        return parameters.computeIfAbsent(2 * p.index() + 1, k -> lower(f, p.z(), p.zOffset(), p.numel())).shared();
    }

    /** C = op(A)·op(B) + beta·C over dense operands, FP32 sums ({@code Gemm.sgemm} or {@code Gemm.sbgemm}). */
    static void gemm(boolean transA, boolean transB, int m, int n, int k, Operand a, Operand b, float beta, float[] c, int offC) {
        if (a.s() != null && b.s() != null) {
            Gemm.sbgemm(transA, transB, m, n, k, 1f, a.s(), a.off(), b.s(), b.off(), beta, c, offC);
        } else if (a.f() != null && b.f() != null) {
            Gemm.sgemm(transA, transB, m, n, k, 1f, a.f(), a.off(), b.f(), b.off(), beta, c, offC);
        } else {
            throw new IllegalStateException("a GEMM's two operands must have one format");
        }
    }

    /**
     * Rounds {@code a[off, off + n)} to {@code format} in place (round to nearest even, an overflow to infinity, as
     * autocast's casts): for values only GEMMs read, whose rounded copy is all anyone needs.
     */
    static void roundInPlace(DType format, float[] a, int off, int n) {
        if (format == DType.FP32) return;
        if (format == DType.BF16) {
            // through the 2-byte codes and back: the conversions run in Bf16Arrays' vectorized loops, the same bits as
            // Bf16.fromFloat per element
            Tensor codes = Tensor.empty(DType.BF16, Category.TEMPORARY, "rop.round_bf16", n);
            try {
                Bf16Arrays.encode(a, off, codes.shortData(), 0, n, Overflow.NON_SATURATE);
                Bf16Arrays.decode(codes.shortData(), 0, a, off, n);
            } finally {
                codes.release();
            }
            return;
        }
        Parallel.range(n, 4, (from, to) -> {
            for (int i = off + from; i < off + to; i++) a[i] = Fp16.toFloat(Fp16.fromFloat(a[i], Overflow.NON_SATURATE));
        });
    }

    private static Operand lower(DType format, float[] src, int off, int n) {
        switch (format) {
            case FP32 -> {
                return new Operand(src, null, off, null);
            }
            case BF16 -> {
                Tensor t = Tensor.empty(DType.BF16, Category.TEMPORARY, "rop.operand_bf16", n);
                short[] dst = t.shortData();
                Bf16Arrays.encode(src, off, dst, 0, n, Overflow.NON_SATURATE); // vectorized, Bf16.fromFloat's bits
                return new Operand(null, dst, 0, t);
            }
            case FP16 -> { // FP16 rounding kept in floats: sgemm multiplies the rounded values exactly
                Tensor t = Tensor.empty("rop.operand_fp16", n);
                float[] dst = t.data();
                System.arraycopy(src, off, dst, 0, n);
                roundInPlace(DType.FP16, dst, 0, n);
                return new Operand(dst, null, 0, t);
            }
            default -> throw new IllegalArgumentException("no GEMM operands in " + format);
        }
    }

    /** Releases the pass's weight and direction copies. */
    @Override
    public void close() {
        for (Operand o : parameters.values()) o.close();
        parameters.clear();
    }
}
