package dev.memwall.precision.fp8;

import dev.memwall.autograd.Tensor;
import dev.memwall.kernels.Gemm;

/**
 * C = op(A) · op(B) of two FP8 tensors, as FP8 tensor cores compute it: FP8 × FP8 products with FP32 accumulation.
 * The codes are decoded to FP32 and multiplied by sgemm. That is exact emulation, not an approximation: an FP8 value
 * has at most 4 significant bits, so the product of two has at most 8 and is exact in FP32's 24; only the accumulation
 * rounds, in FP32, as on the hardware (up to summation order).
 * <ul>
 *   <li>Per-tensor scales (delayed, current): the raw codes are decoded, multiplied, and each output divided once by
 *       the two scales, the way a GEMM epilogue applies {@code scale_inv_a · scale_inv_b}.</li>
 *   <li>Per-tile scales (MXFP8, block): the scales are powers of two, so value / scale is exact in FP32 and the
 *       dequantized operands multiply to the same exact FP8 products, times a power of two.</li>
 * </ul>
 * The FP32 copies are TEMPORARY buffers released before returning.
 */
public final class Fp8Gemm {
    private Fp8Gemm() {
    }

    /**
     * {@code c[offC..] = op(A) · op(B)}, with op(A) m×k and op(B) k×n; A is stored [m, k] ([k, m] when {@code transA}),
     * B [k, n] ([n, k] when {@code transB}), both row-major as their {@link Fp8Tensor#rows()} × {@link Fp8Tensor#cols()}.
     */
    public static void matmul(Fp8Tensor a, boolean transA, Fp8Tensor b, boolean transB, int m, int n, int k, float[] c, int offC) {
        check(a, transA ? k : m, transA ? m : k, "A");
        check(b, transB ? n : k, transB ? k : n, "B");
        boolean perTensor = a.tiling().perTensor() && b.tiling().perTensor();
        Tensor ad = operand(a, perTensor), bd = operand(b, perTensor);
        try {
            Gemm.sgemm(transA, transB, m, n, k, 1f, ad.data(), 0, bd.data(), 0, 0f, c, offC);
        } finally {
            ad.release();
            bd.release();
        }
        if (perTensor) {
            double s = a.scale() * b.scale(); // exact: two floats
            for (int i = 0; i < m * n; i++) c[offC + i] = (float) (c[offC + i] / s);
        }
    }

    private static Tensor operand(Fp8Tensor q, boolean raw) {
        Tensor d = Tensor.empty("fp8_gemm_operand", Math.max(1, q.rows() * q.cols()));
        if (raw) q.format().decode(q.codes().byteData(), q.codes().offset(), d.data(), 0, q.rows() * q.cols());
        else q.dequantizeInto(d.data(), 0);
        return d;
    }

    private static void check(Fp8Tensor q, int rows, int cols, String what) {
        if (q.rows() != rows || q.cols() != cols) {
            throw new IllegalArgumentException("fp8 gemm: " + what + " is " + q.rows() + "x" + q.cols() + ", expected " + rows + "x" + cols);
        }
    }
}
