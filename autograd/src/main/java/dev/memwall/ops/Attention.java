package dev.memwall.ops;

import dev.memwall.autograd.OpStats;
import dev.memwall.autograd.Tensor;
import dev.memwall.kernels.Softmax;

/**
 * The probability step of causal attention, softmax(mask(x·scale)), as one op. Three ops (scale, mask, softmax)
 * would read and write the [B, H, T, T] scores three times and allocate two extra buffers; this reads them once.
 * Like softmax, it saves only its output.
 */
final class Attention {
    private Attention() {
    }

    static Tensor causalSoftmax(Tensor x, float scale) {
        Rel.requireFp32("causal_softmax", x);
        int[] s = x.shape();
        int t = s[s.length - 1];
        if (s.length < 2 || s[s.length - 2] != t) {
            throw new IllegalArgumentException("causal_softmax: last two axes must be square, got " + java.util.Arrays.toString(s));
        }
        int mats = x.numel() / Math.max(1, t * t);
        OpStats.Frame frame = OpStats.begin("causal_softmax");
        Tensor out = Tensor.empty("causal_softmax", s);
        Softmax.causalForward(x.data(), x.offset(), out.data(), 0, mats, t, scale);
        if (frame != null) frame.end(Costs.SOFTMAX_FORWARD * Costs.causalElements(mats, t),
                4 * Costs.causalElements(mats, t) + OpStats.bytes(out)); // reads the visible triangle, writes all of it
        if (!dev.memwall.autograd.Node.shouldRecord(x)) return out;
        return new OutputSavingNode("causal_softmax", x) {
            @Override
            protected Tensor[] backward(Tensor g) { // scale · y · (g − Σ g·y); y is 0 where masked
                Tensor y = output();
                Tensor gy = Arith.mul(g, y);
                Tensor sum = Reduce.sum(gy, -1, true);
                Tensor d = Arith.sub(g, sum);
                Tensor yd = Arith.mul(d, y);
                Tensor r = Arith.mulScalar(yd, scale);
                Rel.all(gy, sum, d, yd);
                return new Tensor[]{r};
            }

            @Override
            protected Tensor[] backwardFast(Tensor g) {
                Tensor y = output();
                OpStats.Frame frame = OpStats.begin("causal_softmax");
                Tensor dx = Tensor.empty("causal_softmax.backward", s);
                Softmax.causalBackward(y.data(), y.offset(), g.data(), g.offset(), dx.data(), 0, mats, t, scale);
                if (frame != null) frame.end(Costs.SOFTMAX_BACKWARD * Costs.causalElements(mats, t),
                        8 * Costs.causalElements(mats, t) + OpStats.bytes(dx));
                return new Tensor[]{dx};
            }
        }.attachAndSave(out);
    }
}
