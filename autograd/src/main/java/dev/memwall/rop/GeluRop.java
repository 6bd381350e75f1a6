package dev.memwall.rop;

import dev.memwall.autograd.Tensor;
import dev.memwall.kernels.Elementwise;
import dev.memwall.kernels.Gelu;
import dev.memwall.kernels.Parallel;

/**
 * GELU (tanh approximation) with tangents: ẏ = gelu'(f)·ḟ; backward f̄ = gelu'(f)·ȳ and
 * its tangent gelu'(f)·ẏ̄ + gelu''(f)·ḟ·ȳ, where with t = tanh(u), u = C·(f + A·f³):
 * gelu'' = (1 − t²)·(u' − f·t·u'² + f·u''/2), u' = C·(1 + 3A·f²), u'' = 6A·C·f. The first-order parts run
 * through the same {@link Gelu} kernels as the ordinary op.
 */
final class GeluRop {
    private GeluRop() {
    }

    static Dual forward(Dual f, int[] shape) {
        int n = f.v().numel();
        Tensor y = Tensor.empty("rop.gelu", shape), yd = Tensor.empty("rop.gelu.tangent", shape);
        Gelu.forward(f.va(), f.vo(), y.data(), y.offset(), n);
        Gelu.backward(f.va(), f.vo(), f.ta(), f.to(), yd.data(), yd.offset(), n);
        return new Dual(y, yd, false);
    }

    static Dual backward(Dual f, Dual ybar, int[] shape) {
        int n = f.v().numel();
        Tensor xb = Tensor.empty("rop.gelu.grad", shape), xbd = Tensor.empty("rop.gelu.grad.tangent", shape);
        Gelu.backward(f.va(), f.vo(), ybar.va(), ybar.vo(), xb.data(), xb.offset(), n);
        Gelu.backward(f.va(), f.vo(), ybar.ta(), ybar.to(), xbd.data(), xbd.offset(), n);
        float[] fv = f.va(), ft = f.ta(), g = ybar.va(), out = xbd.data();
        int fo = f.vo(), fto = f.to(), go = ybar.vo(), oo = xbd.offset();
        Parallel.range(n, 16, (from, to) -> {
            for (int i = from; i < to; i++) {
                out[oo + i] += secondDerivative(fv[fo + i]) * ft[fto + i] * g[go + i];
            }
        });
        return new Dual(xb, xbd, false);
    }

    /** gelu''(v); v clamped to ±16 as in the kernel (beyond it t = ±1 and the value is 0). */
    static float secondDerivative(float v) {
        float x = Math.max(-16f, Math.min(16f, v));
        float t = Elementwise.tanh(Gelu.C * (x + Gelu.A * x * x * x));
        float u1 = Gelu.C * (1f + 3f * Gelu.A * x * x), u2 = 6f * Gelu.A * Gelu.C * x;
        return (1f - t * t) * (u1 - x * t * u1 * u1 + 0.5f * x * u2);
    }
}
