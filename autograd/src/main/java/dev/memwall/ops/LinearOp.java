package dev.memwall.ops;

import dev.memwall.autograd.CastPolicy;
import dev.memwall.autograd.Node;
import dev.memwall.autograd.OpStats;
import dev.memwall.autograd.Tensor;
import dev.memwall.kernels.Gemm;
import dev.memwall.kernels.Parallel;

import java.util.Arrays;

/**
 * y = x · Wᵀ + b as one op: the bias copied into every row of y, then a single GEMM over all rows of x added onto it
 * (beta 1), so the layer costs one output buffer and no pass over it besides the GEMM's own (matmul followed by add
 * costs a second buffer and a pass that reads and writes it). Saves x and W (W is a parameter, not an activation).
 * The backward rule is three differentiable ops (two GEMMs and a column sum), so it serves second order as well.
 */
final class LinearOp {
    private LinearOp() {
    }

    /**
     * Under a {@link CastPolicy} (autocast) x and w are replaced by what the policy returns (low-precision casts);
     * any floating format is accepted and decoded to FP32 for sgemm (two BF16 operands go to the BF16 GEMM as they
     * are where it runs in place, {@link Bf16Matmul}), and the node saves the operands as given.
     */
    static Tensor linear(Tensor x, Tensor w, Tensor b) {
        Tensor xc = CastPolicy.apply("linear", 0, x), wc = CastPolicy.apply("linear", 1, w);
        try {
            return linearOf(xc, wc, b);
        } finally {
            CastOp.releaseCopy(xc, x);
            CastOp.releaseCopy(wc, w);
        }
    }

    private static Tensor linearOf(Tensor x, Tensor w, Tensor b) {
        x.checkAlive("linear");
        w.checkAlive("linear");
        int[] xs = x.shape(), ws = w.shape();
        if (ws.length != 2 || xs.length < 1 || xs[xs.length - 1] != ws[1]) {
            throw new IllegalArgumentException("linear: input " + Arrays.toString(xs) + " does not match weight " + Arrays.toString(ws)
                    + " (weight is [out, in])");
        }
        int in = ws[1], out = ws[0], rows = x.numel() / Math.max(1, in);
        if (b != null) {
            Rel.requireFp32("linear", b);
            if (b.dim() != 1 || b.shape()[0] != out) {
                throw new IllegalArgumentException("linear: bias " + Arrays.toString(b.shape()) + " does not match weight " + Arrays.toString(ws));
            }
        }
        int[] outShape = xs.clone();
        outShape[xs.length - 1] = out;
        OpStats.Frame frame = OpStats.begin("linear");
        Tensor y = Tensor.forOverwrite("linear", outShape); // every row: the bias copied in, or the GEMM at beta 0
        float[] yd = y.data();
        float beta = 0f;
        if (b != null) {
            // The bias goes into y first and the GEMM adds onto it (beta 1): OpenBLAS clears C itself for beta 0 before
            // accumulating, so this saves the separate pass that read and wrote all of y to add the bias afterwards.
            float[] bd = b.data();
            int bo = b.offset();
            Parallel.range(rows, out, (from, to) -> {
                for (int r = from; r < to; r++) System.arraycopy(bd, bo, yd, r * out, out);
            });
            beta = 1f;
        }
        if (Bf16Matmul.applies(x, w)) {
            Bf16Matmul.gemm(false, true, rows, out, in, x, w, beta, yd);
        } else {
            Tensor x32 = CastOp.fp32(x), w32 = CastOp.fp32(w);
            Gemm.sgemm(false, true, rows, out, in, 1f, x32.data(), x32.offset(), w32.data(), w32.offset(), beta, yd, 0);
            CastOp.releaseCopy(x32, x);
            CastOp.releaseCopy(w32, w);
        }
        if (frame != null) frame.end(2.0 * rows * in * out + (b == null ? 0 : (double) rows * out), OpStats.bytes(x, w, b, y));
        if (!Node.shouldRecord(x, w, b)) return y;
        return new LinearNode(x, w, b).attach(y);
    }

    private static final class LinearNode extends Node {
        private final int[] xs, ws, bs;
        private final int savedX, savedW;

        LinearNode(Tensor x, Tensor w, Tensor b) {
            super("linear", x, w, b);
            xs = x.shape();
            ws = w.shape();
            bs = b == null ? null : b.shape();
            savedW = needsGrad(0) ? save(w) : -1;
            savedX = needsGrad(1) ? save(x) : -1;
        }

        @Override
        protected Tensor[] backward(Tensor g) {
            Tensor dx = null, dw = null, db = null;
            int in = ws[1], out = ws[0];
            Tensor g2 = Views.reshape(g, -1, out);
            // Under autocast both GEMMs read the gradient in the low format: cast it once here (each GEMM's policy
            // hands an operand already in its format back as it is) rather than once per GEMM. Same bits, half the
            // encodes. The bias gradient sums the FP32 gradient, as before.
            Tensor gc = needsGrad(0) && needsGrad(1) ? CastPolicy.apply("matmul", 0, g2) : g2;
            if (needsGrad(0)) {
                Tensor d2 = MatMul.matmul(gc, saved(savedW), false, false);
                dx = Views.reshape(d2, xs);
                d2.release();
            }
            if (needsGrad(1)) {
                Tensor x2 = Views.reshape(saved(savedX), -1, in);
                dw = MatMul.matmul(gc, x2, true, false);
                x2.release();
            }
            CastOp.releaseCopy(gc, g2);
            if (needsGrad(2)) db = Reduce.sumTo(g2, bs);
            g2.release();
            return new Tensor[]{dx, dw, db};
        }
    }
}
