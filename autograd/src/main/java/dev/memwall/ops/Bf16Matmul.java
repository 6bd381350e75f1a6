package dev.memwall.ops;

import dev.memwall.autograd.DType;
import dev.memwall.autograd.Tensor;
import dev.memwall.kernels.Gemm;

/**
 * The GEMM of a linear or matmul whose two operands are BF16 (autocast), handed to {@link Gemm#sbgemm} as they are
 * where that multiplies BF16 in place ({@link Gemm#sbgemmInPlace()}: memwall's AVX512-BF16 kernel): no FP32 copies of
 * the operands. Elsewhere, and for other formats, the op decodes both operands to FP32 and calls sgemm, as before;
 * both compute BF16 products summed in FP32 and differ only in the order of the sums.
 */
final class Bf16Matmul {
    private Bf16Matmul() {
    }

    /** Whether {@code a} and {@code b} go to {@link Gemm#sbgemm} as they are. */
    static boolean applies(Tensor a, Tensor b) {
        return a.dtype() == DType.BF16 && b.dtype() == DType.BF16 && Gemm.sbgemmInPlace();
    }

    /** out = op(a) · op(b), one GEMM over dense operands, m×k by k×n into a dense m×n at offset 0 of {@code out}. */
    static void gemm(boolean transA, boolean transB, int m, int n, int k, Tensor a, Tensor b, float[] out) {
        gemm(transA, transB, m, n, k, a, b, 0f, out);
    }

    /** out = op(a) · op(b) + beta · out (beta 1: the product is added onto what {@code out} holds, e.g. a bias). */
    static void gemm(boolean transA, boolean transB, int m, int n, int k, Tensor a, Tensor b, float beta, float[] out) {
        Gemm.sbgemm(transA, transB, m, n, k, 1f, a.shortData(), a.offset(), b.shortData(), b.offset(), beta, out, 0);
    }
}
