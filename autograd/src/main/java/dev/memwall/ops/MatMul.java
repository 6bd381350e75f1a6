package dev.memwall.ops;

import dev.memwall.autograd.CastPolicy;
import dev.memwall.autograd.Node;
import dev.memwall.autograd.OpStats;
import dev.memwall.autograd.Shape;
import dev.memwall.autograd.Tensor;
import dev.memwall.kernels.Gemm;

import java.util.Arrays;

/**
 * C = op(A) · op(B) with op = identity or transpose of the last two axes. Leading (batch) axes must match, or one
 * side is 2-D and is shared across the other's batch (a weight). A 2-D B under an untransposed A collapses into a
 * single GEMM over all rows of A, which is how a Linear layer over [B, T, D] runs.
 */
final class MatMul {
    private MatMul() {
    }

    /**
     * Under a {@link CastPolicy} (autocast) the operands are what the policy returns; any floating format is decoded
     * (two BF16 operands of one GEMM go to the BF16 GEMM as they are where it runs in place, {@link Bf16Matmul}).
     */
    static Tensor matmul(Tensor a, Tensor b, boolean transA, boolean transB) {
        Tensor ac = CastPolicy.apply("matmul", 0, a), bc = CastPolicy.apply("matmul", 1, b);
        try {
            return matmulOf(ac, bc, transA, transB);
        } finally {
            CastOp.releaseCopy(ac, a);
            CastOp.releaseCopy(bc, b);
        }
    }

    private static Tensor matmulOf(Tensor a, Tensor b, boolean transA, boolean transB) {
        a.checkAlive("matmul");
        b.checkAlive("matmul");
        int[] as = a.shape(), bs = b.shape();
        if (as.length < 2 || bs.length < 2) {
            throw new IllegalArgumentException("matmul: both operands need rank >= 2, got " + Shape.str(as) + " and " + Shape.str(bs));
        }
        int ra = as.length, rb = bs.length;
        int m = transA ? as[ra - 1] : as[ra - 2], ka = transA ? as[ra - 2] : as[ra - 1];
        int kb = transB ? bs[rb - 1] : bs[rb - 2], n = transB ? bs[rb - 2] : bs[rb - 1];
        if (ka != kb) {
            throw new IllegalArgumentException("matmul: inner dimensions differ: " + Shape.str(as) + (transA ? "ᵀ" : "") + " · "
                    + Shape.str(bs) + (transB ? "ᵀ" : ""));
        }
        int[] batchA = Arrays.copyOf(as, ra - 2), batchB = Arrays.copyOf(bs, rb - 2);
        int[] batch;
        if (batchB.length == 0) batch = batchA;
        else if (batchA.length == 0) batch = batchB;
        else if (Arrays.equals(batchA, batchB)) batch = batchA;
        else throw new IllegalArgumentException("matmul: batch dimensions differ: " + Shape.str(as) + " and " + Shape.str(bs));
        int nb = Shape.numel(batch);
        int[] outShape = Arrays.copyOf(batch, batch.length + 2);
        outShape[batch.length] = m;
        outShape[batch.length + 1] = n;
        OpStats.Frame frame = OpStats.begin("matmul");
        Tensor out = Tensor.forOverwrite("matmul", outShape); // GEMMs at beta 0 write all of it (zeros for k = 0)
        boolean bf16 = Bf16Matmul.applies(a, b);
        if (bf16 && batchB.length == 0 && !transA) { // as below, one GEMM over the stacked rows, in BF16
            Bf16Matmul.gemm(false, transB, nb * m, n, ka, a, b, out.data());
        } else if (bf16 && nb == 1) { // one GEMM (a weight gradient Aᵀ·B), in BF16
            Bf16Matmul.gemm(transA, transB, m, n, ka, a, b, out.data());
        } else {
            decodedMatmul(a, b, transA, transB, batchA, batchB, nb, m, n, ka, out);
        }
        if (frame != null) frame.end(2.0 * nb * m * n * ka, OpStats.bytes(a, b, out));
        if (!Node.shouldRecord(a, b)) return out;
        return new MatMulNode(a, b, transA, transB).attach(out);
    }

    /** Both operands decoded to FP32 (copies released after), then sgemm: one GEMM, or one per batch entry. */
    private static void decodedMatmul(Tensor a, Tensor b, boolean transA, boolean transB, int[] batchA, int[] batchB,
                                      int nb, int m, int n, int ka, Tensor out) {
        Tensor a32 = CastOp.fp32(a), b32 = CastOp.fp32(b);
        if (batchB.length == 0 && !transA) { // rows of every batch entry stacked: one GEMM
            Gemm.sgemm(false, transB, nb * m, n, ka, 1f, a32.data(), a32.offset(), b32.data(), b32.offset(), 0f, out.data(), 0);
        } else {
            Gemm.sgemmBatched(nb, transA, transB, m, n, ka, 1f, a32.data(), a32.offset(), batchA.length == 0 ? 0 : m * ka,
                    b32.data(), b32.offset(), batchB.length == 0 ? 0 : ka * n, 0f, out.data(), 0, m * n);
        }
        CastOp.releaseCopy(a32, a);
        CastOp.releaseCopy(b32, b);
    }

    private static final class MatMulNode extends Node {
        private final boolean transA, transB;
        private final int[] as, bs;
        private final int savedA, savedB;

        MatMulNode(Tensor a, Tensor b, boolean transA, boolean transB) {
            super("matmul", a, b);
            this.transA = transA;
            this.transB = transB;
            this.as = a.shape();
            this.bs = b.shape();
            savedB = needsGrad(0) ? save(b) : -1;
            savedA = needsGrad(1) ? save(a) : -1;
        }

        @Override
        protected Tensor[] backward(Tensor g) {
            Tensor ga = null, gb = null;
            if (needsGrad(0)) {
                Tensor b = saved(savedB);
                ga = transA ? matmul(b, g, transB, true) : matmul(g, b, false, !transB);
                ga = reduceBatch(ga, as);
            }
            if (needsGrad(1)) {
                Tensor a = saved(savedA);
                if (bs.length == 2 && as.length > 2 && !transA) { // shared weight: one GEMM over all rows
                    int k = as[as.length - 1], n = g.shape()[g.dim() - 1];
                    Tensor a2 = Views.reshape(a, -1, k), g2 = Views.reshape(g, -1, n);
                    gb = transB ? matmul(g2, a2, true, false) : matmul(a2, g2, true, false);
                    Rel.all(a2, g2);
                } else {
                    gb = transB ? matmul(g, a, true, transA) : matmul(a, g, !transA, false);
                    gb = reduceBatch(gb, bs);
                }
            }
            return new Tensor[]{ga, gb};
        }

        /** A 2-D operand shared across a batch receives the sum of the per-entry gradients. */
        private static Tensor reduceBatch(Tensor grad, int[] shape) {
            if (Arrays.equals(grad.shape(), shape)) return grad;
            Tensor r = Reduce.sumTo(grad, shape);
            grad.release();
            return r;
        }
    }
}
