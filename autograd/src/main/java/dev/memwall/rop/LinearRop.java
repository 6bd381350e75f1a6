package dev.memwall.rop;

import dev.memwall.autograd.Tensor;
import dev.memwall.kernels.Gemm;

/**
 * y = x·Wᵀ + b over {@code rows} rows, with tangents. Forward: ẏ = ẋ·Wᵀ + x·Żᵀ + ḃ (Ż, ḃ: z's slices for W and
 * b). Backward from (ȳ, ẏ̄): x̄ = ȳ·W, its tangent ẏ̄·W + ȳ·Ż; W̄ = ȳᵀ·x, (H·z)_W = ẏ̄ᵀ·x + ȳᵀ·ẋ; b̄ = Σ ȳ,
 * (H·z)_b = Σ ẏ̄. Every product is one GEMM over all rows, as in the first-order {@code LinearOp}.
 */
final class LinearRop {
    private LinearRop() {
    }

    static Dual forward(Dual x, Param w, Param b, int rows, int in, int out, int[] outShape) {
        Tensor y = Tensor.empty("rop.linear", outShape), yd = Tensor.empty("rop.linear.tangent", outShape);
        Gemm.sgemm(false, true, rows, out, in, 1f, x.va(), x.vo(), w.w(), w.wo(), 0f, y.data(), y.offset());
        Gemm.sgemm(false, true, rows, out, in, 1f, x.ta(), x.to(), w.w(), w.wo(), 0f, yd.data(), yd.offset());
        Gemm.sgemm(false, true, rows, out, in, 1f, x.va(), x.vo(), w.z(), w.zOffset(), 1f, yd.data(), yd.offset());
        if (b != null) {
            addRowVector(y.data(), y.offset(), rows, out, b.w(), b.wo());
            addRowVector(yd.data(), yd.offset(), rows, out, b.z(), b.zOffset());
        }
        return new Dual(y, yd, false);
    }

    /** Returns (x̄, its tangent), shaped {@code inShape}; the parameters' gradient and H·z go to {@code out}. */
    static Dual backward(Dual x, Dual ybar, Param w, Param b, int rows, int in, int out, int[] inShape, Products sink) {
        Tensor xb = Tensor.empty("rop.linear.grad", inShape), xbd = Tensor.empty("rop.linear.grad.tangent", inShape);
        Gemm.sgemm(false, false, rows, in, out, 1f, ybar.va(), ybar.vo(), w.w(), w.wo(), 0f, xb.data(), xb.offset());
        Gemm.sgemm(false, false, rows, in, out, 1f, ybar.ta(), ybar.to(), w.w(), w.wo(), 0f, xbd.data(), xbd.offset());
        Gemm.sgemm(false, false, rows, in, out, 1f, ybar.va(), ybar.vo(), w.z(), w.zOffset(), 1f, xbd.data(), xbd.offset());
        if (sink.addGradient()) {
            Tensor g = w.grad();
            Gemm.sgemm(true, false, out, in, rows, 1f, ybar.va(), ybar.vo(), x.va(), x.vo(), 1f, g.data(), g.offset());
            if (b != null) Products.addColumnSums(ybar.va(), ybar.vo(), rows, out, b.grad().data(), b.grad().offset());
        }
        Tensor hw = Products.hzFor(w);
        Gemm.sgemm(true, false, out, in, rows, 1f, ybar.ta(), ybar.to(), x.va(), x.vo(), 0f, hw.data(), hw.offset());
        Gemm.sgemm(true, false, out, in, rows, 1f, ybar.va(), ybar.vo(), x.ta(), x.to(), 1f, hw.data(), hw.offset());
        sink.emit(w, hw);
        if (b != null) {
            Tensor hb = Products.hzFor(b);
            Products.addColumnSums(ybar.ta(), ybar.to(), rows, out, hb.data(), hb.offset());
            sink.emit(b, hb);
        }
        return new Dual(xb, xbd, false);
    }

    private static void addRowVector(float[] y, int off, int rows, int n, float[] v, int vo) {
        dev.memwall.kernels.Parallel.range(rows, n, (from, to) -> {
            for (int r = from; r < to; r++) {
                int o = off + r * n;
                for (int j = 0; j < n; j++) y[o + j] += v[vo + j];
            }
        });
    }
}
