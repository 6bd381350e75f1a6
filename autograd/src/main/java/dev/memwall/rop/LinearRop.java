package dev.memwall.rop;

import dev.memwall.autograd.Tensor;
import dev.memwall.rop.GemmOperands.Operand;

/**
 * y = x·Wᵀ + b over {@code rows} rows, with tangents. Forward: ẏ = ẋ·Wᵀ + x·Żᵀ + ḃ (Ż, ḃ: z's slices for W and
 * b). Backward from (ȳ, ẏ̄): x̄ = ȳ·W, its tangent ẏ̄·W + ȳ·Ż; W̄ = ȳᵀ·x, (H·z)_W = ẏ̄ᵀ·x + ȳᵀ·ẋ; b̄ = Σ ȳ,
 * (H·z)_b = Σ ẏ̄. Every product is one GEMM over all rows, as in the first-order {@code LinearOp}, its operands in the
 * pass's {@link GemmFormats} (three value GEMMs, six tangent GEMMs); the bias terms are FP32 sums, as autocast's.
 */
final class LinearRop {
    private LinearRop() {
    }

    static Dual forward(Dual x, Param w, Param b, int rows, int in, int out, int[] outShape, GemmOperands ops) {
        // every element is written before it is read: the bias rows (then the GEMMs add with beta 1) or a beta-0 GEMM
        Tensor y = Tensor.forOverwrite("rop.linear", outShape), yd = Tensor.forOverwrite("rop.linear.tangent", outShape);
        float beta = 0f;
        if (b != null) {
            // the bias goes into y first and the GEMM adds onto it, as the first-order LinearOp does: no separate pass
            // reading and writing all of y (and ẏ) to add b (and ḃ) afterwards
            copyRows(b.w(), b.wo(), b.z(), b.zOffset(), y.data(), y.offset(), yd.data(), yd.offset(), rows, out);
            beta = 1f;
        }
        try (Operand xv = ops.value(x.v()); Operand xt = ops.tangent(x.t()); Operand xz = ops.tangent(x.v(), xv)) {
            GemmOperands.gemm(false, true, rows, out, in, xv, ops.weight(w, false), beta, y.data(), y.offset());
            GemmOperands.gemm(false, true, rows, out, in, xt, ops.weight(w, true), beta, yd.data(), yd.offset());
            GemmOperands.gemm(false, true, rows, out, in, xz, ops.direction(w), 1f, yd.data(), yd.offset());
        }
        return new Dual(y, yd, false);
    }

    /** Returns (x̄, its tangent), shaped {@code inShape}; the parameters' gradient and H·z go to {@code out}. */
    static Dual backward(Dual x, Dual ybar, Param w, Param b, int rows, int in, int out, int[] inShape, Products sink,
                         GemmOperands ops) {
        Tensor xb = Tensor.forOverwrite("rop.linear.grad", inShape), xbd = Tensor.forOverwrite("rop.linear.grad.tangent", inShape);
        try (Operand gv = ops.value(ybar.v()); Operand gt = ops.tangent(ybar.t()); Operand gz = ops.tangent(ybar.v(), gv)) {
            GemmOperands.gemm(false, false, rows, in, out, gv, ops.weight(w, false), 0f, xb.data(), xb.offset());
            GemmOperands.gemm(false, false, rows, in, out, gt, ops.weight(w, true), 0f, xbd.data(), xbd.offset());
            GemmOperands.gemm(false, false, rows, in, out, gz, ops.direction(w), 1f, xbd.data(), xbd.offset());
            Tensor hw = Products.hzUnfilled(w);
            try (Operand xv = sink.addGradient() ? ops.value(x.v()) : null; Operand xt = ops.tangent(x.t());
                 Operand xz = xv != null ? ops.tangent(x.v(), xv) : ops.tangent(x.v())) {
                if (xv != null) {
                    Tensor g = w.grad();
                    GemmOperands.gemm(true, false, out, in, rows, gv, xv, 1f, g.data(), g.offset());
                }
                GemmOperands.gemm(true, false, out, in, rows, gt, xz, 0f, hw.data(), hw.offset());
                GemmOperands.gemm(true, false, out, in, rows, gz, xt, 1f, hw.data(), hw.offset());
            } catch (RuntimeException | Error e) {
                hw.release();
                throw e;
            }
            sink.emit(w, hw);
        }
        if (b != null) {
            Tensor hb = Products.hzUnfilled(b);
            // b̄ (added into .grad()) and (H·z)_b in one pass over ȳ and ẏ̄
            Products.columnSums(ybar.va(), ybar.vo(), ybar.ta(), ybar.to(), rows, out,
                    sink.addGradient() ? b.grad().data() : null, sink.addGradient() ? b.grad().offset() : 0, hb.data(), hb.offset());
            sink.emit(b, hb);
        }
        return new Dual(xb, xbd, false);
    }

    /** Every row of y gets v, every row of yd gets vd. */
    private static void copyRows(float[] v, int vo, float[] vd, int vdo, float[] y, int yo, float[] yd, int ydo, int rows, int n) {
        dev.memwall.kernels.Parallel.range(rows, n, (from, to) -> {
            for (int r = from; r < to; r++) {
                System.arraycopy(v, vo, y, yo + r * n, n);
                System.arraycopy(vd, vdo, yd, ydo + r * n, n);
            }
        });
    }
}
