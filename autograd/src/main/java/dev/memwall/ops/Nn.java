package dev.memwall.ops;

import dev.memwall.autograd.DType;
import dev.memwall.autograd.Node;
import dev.memwall.autograd.OpStats;
import dev.memwall.autograd.Tensor;
import dev.memwall.kernels.CrossEntropyKernel;
import dev.memwall.kernels.Gelu;
import dev.memwall.kernels.LayerNormKernel;
import dev.memwall.kernels.Softmax;

/**
 * Fused neural-network ops over the last axis: softmax, log-softmax, layer norm, GELU, cross-entropy. Forward and
 * first-order backward run fused kernels; second order goes through {@link Decomposed} or through rules written with
 * differentiable ops.
 */
final class Nn {
    private Nn() {
    }

    private static int rows(Tensor x) {
        int n = x.shape()[x.dim() - 1];
        return n == 0 ? 0 : x.numel() / n;
    }

    private static int last(Tensor x) {
        return x.shape()[x.dim() - 1];
    }

    static Tensor softmax(Tensor x) {
        Rel.requireFp32("softmax", x);
        OpStats.Frame frame = OpStats.begin("softmax");
        Tensor out = Tensor.empty("softmax", x.shape());
        Softmax.forward(x.data(), x.offset(), out.data(), 0, rows(x), last(x));
        if (frame != null) frame.end(Costs.SOFTMAX_FORWARD * x.numel(), OpStats.bytes(x, out));
        if (!Node.shouldRecord(x)) return out;
        return new OutputSavingNode("softmax", x) {
            @Override
            protected Tensor[] backward(Tensor g) { // y * (g - sum(g * y))
                Tensor y = output();
                Tensor gy = Arith.mul(g, y);
                Tensor s = Reduce.sum(gy, -1, true);
                Tensor d = Arith.sub(g, s);
                Tensor r = Arith.mul(d, y);
                Rel.all(gy, s, d);
                return new Tensor[]{r};
            }

            @Override
            protected Tensor[] backwardFast(Tensor g) {
                Tensor y = output();
                OpStats.Frame frame = OpStats.begin("softmax");
                Tensor dx = Tensor.empty("softmax.backward", y.shape());
                Softmax.backward(y.data(), y.offset(), g.data(), g.offset(), dx.data(), 0, rows(y), last(y));
                if (frame != null) frame.end(Costs.SOFTMAX_BACKWARD * y.numel(), OpStats.bytes(y, g, dx));
                return new Tensor[]{dx};
            }
        }.attachAndSave(out);
    }

    static Tensor logSoftmax(Tensor x) {
        Rel.requireFp32("log_softmax", x);
        OpStats.Frame frame = OpStats.begin("log_softmax");
        Tensor out = Tensor.empty("log_softmax", x.shape());
        Softmax.logForward(x.data(), x.offset(), out.data(), 0, rows(x), last(x));
        if (frame != null) frame.end(Costs.SOFTMAX_FORWARD * x.numel(), OpStats.bytes(x, out));
        if (!Node.shouldRecord(x)) return out;
        return new OutputSavingNode("log_softmax", x) {
            @Override
            protected Tensor[] backward(Tensor g) { // g - exp(y) * sum(g)
                Tensor p = Arith.exp(output());
                Tensor s = Reduce.sum(g, -1, true);
                Tensor ps = Arith.mul(p, s);
                Tensor r = Arith.sub(g, ps);
                Rel.all(p, s, ps);
                return new Tensor[]{r};
            }

            @Override
            protected Tensor[] backwardFast(Tensor g) {
                Tensor y = output();
                OpStats.Frame frame = OpStats.begin("log_softmax");
                Tensor dx = Tensor.empty("log_softmax.backward", y.shape());
                Softmax.logBackward(y.data(), y.offset(), g.data(), g.offset(), dx.data(), 0, rows(y), last(y));
                if (frame != null) frame.end(Costs.SOFTMAX_BACKWARD * y.numel(), OpStats.bytes(y, g, dx));
                return new Tensor[]{dx};
            }
        }.attachAndSave(out);
    }

    /** Layer norm over the last axis with weight and bias of shape [n] (either may be null). Saves x, mean, rstd. */
    static Tensor layerNorm(Tensor x, Tensor w, Tensor b, float eps) {
        Rel.requireFp32("layer_norm", x);
        int n = last(x), rows = rows(x);
        for (Tensor p : new Tensor[]{w, b}) {
            if (p != null && (p.dim() != 1 || p.shape()[0] != n)) {
                throw new IllegalArgumentException("layer_norm: parameter shape " + java.util.Arrays.toString(p.shape())
                        + " does not match last axis of input " + java.util.Arrays.toString(x.shape()));
            }
        }
        OpStats.Frame frame = OpStats.begin("layer_norm");
        Tensor out = Tensor.forOverwrite("layer_norm", x.shape()); // every row normalized into it
        Tensor mean = Tensor.empty("layer_norm.mean", rows), rstd = Tensor.empty("layer_norm.rstd", rows);
        LayerNormKernel.forward(x.data(), x.offset(), w == null ? null : w.data(), w == null ? 0 : w.offset(),
                b == null ? null : b.data(), b == null ? 0 : b.offset(), eps, out.data(), 0, mean.data(), rstd.data(), 0, rows, n);
        if (frame != null) frame.end(Costs.LAYER_NORM_FORWARD * x.numel(), OpStats.bytes(x, w, b, out, mean, rstd));
        if (!Node.shouldRecord(x, w, b)) {
            Rel.all(mean, rstd);
            return out;
        }
        Tensor result = new LayerNormNode(x, w, b, mean, rstd, eps).attach(out);
        Rel.all(mean, rstd); // the node holds its own references
        return result;
    }

    private static final class LayerNormNode extends Node {
        private final int sx, sw, sMean, sRstd;
        private final float eps;
        private final int[] bShape;

        LayerNormNode(Tensor x, Tensor w, Tensor b, Tensor mean, Tensor rstd, float eps) {
            super("layer_norm", x, w, b);
            this.eps = eps;
            this.bShape = b == null ? null : b.shape();
            sx = save(x);
            sw = w != null ? save(w) : -1;
            sMean = save(mean);
            sRstd = save(rstd);
        }

        @Override
        protected Tensor[] backwardFast(Tensor g) {
            Tensor x = saved(sx), w = sw >= 0 ? saved(sw) : null;
            Tensor mean = saved(sMean), rstd = saved(sRstd);
            int n = x.shape()[x.dim() - 1], rows = x.numel() / Math.max(1, n);
            OpStats.Frame frame = OpStats.begin("layer_norm");
            Tensor dx = needsGrad(0) ? Tensor.forOverwrite("layer_norm.backward", x.shape()) : null; // every row
            Tensor dw = needsGrad(1) ? Tensor.empty("layer_norm.backward", n) : null;
            Tensor db = needsGrad(2) ? Tensor.empty("layer_norm.backward", n) : null;
            LayerNormKernel.backward(x.data(), x.offset(), w == null ? null : w.data(), w == null ? 0 : w.offset(),
                    mean.data(), rstd.data(), mean.offset(), g.data(), g.offset(),
                    dx == null ? null : dx.data(), 0, dw == null ? null : dw.data(), 0, db == null ? null : db.data(), 0, rows, n);
            if (frame != null) frame.end(Costs.LAYER_NORM_BACKWARD * x.numel(), OpStats.bytes(x, w, mean, rstd, g, dx, dw, db));
            return new Tensor[]{dx, dw, db};
        }

        @Override
        protected Tensor[] backward(Tensor g) {
            Tensor x = saved(sx), w = sw >= 0 ? saved(sw) : null;
            Tensor[] in = w == null ? new Tensor[]{x} : new Tensor[]{x, w};
            boolean[] needs = w == null ? new boolean[]{needsGrad(0)} : new boolean[]{needsGrad(0), needsGrad(1)};
            Tensor[] r = Decomposed.vjp(t -> normalize(t[0], t.length > 1 ? t[1] : null, eps), in, needs, g);
            Tensor db = needsGrad(2) ? Reduce.sumTo(g, bShape) : null;
            return new Tensor[]{r[0], r.length > 1 ? r[1] : null, db};
        }
    }

    /** (x - mean) / sqrt(var + eps) * w, from primitive ops (the reference the fused kernel must match). */
    static Tensor normalize(Tensor x, Tensor w, float eps) {
        Tensor mu = Reduce.mean(x, -1, true);
        Tensor xc = Arith.sub(x, mu);
        Tensor sq = Arith.mul(xc, xc);
        Tensor var = Reduce.mean(sq, -1, true);
        Tensor ve = Arith.addScalar(var, eps);
        Tensor rs = Arith.pow(ve, -0.5f);
        Tensor xhat = Arith.mul(xc, rs);
        Tensor y = w == null ? xhat : Arith.mul(xhat, w);
        Rel.all(mu, xc, sq, var, ve, rs);
        if (w != null) xhat.release();
        return y;
    }

    static Tensor gelu(Tensor x) {
        Rel.requireFp32("gelu", x);
        OpStats.Frame frame = OpStats.begin("gelu");
        Tensor out = Tensor.forOverwrite("gelu", x.shape()); // every element written
        Gelu.forward(x.data(), x.offset(), out.data(), 0, x.numel());
        if (frame != null) frame.end(Costs.GELU_FORWARD * x.numel(), OpStats.bytes(x, out));
        if (!Node.shouldRecord(x)) return out;
        return new Node("gelu", x) {
            final int sx = save(x);

            @Override
            protected Tensor[] backwardFast(Tensor g) {
                Tensor xs = saved(sx);
                OpStats.Frame frame = OpStats.begin("gelu");
                Tensor dx = Tensor.forOverwrite("gelu.backward", xs.shape()); // every element written
                Gelu.backward(xs.data(), xs.offset(), g.data(), g.offset(), dx.data(), 0, xs.numel());
                if (frame != null) frame.end(Costs.GELU_BACKWARD * xs.numel(), OpStats.bytes(xs, g, dx));
                return new Tensor[]{dx};
            }

            @Override
            protected Tensor[] backward(Tensor g) {
                return Decomposed.vjp(t -> geluReference(t[0]), new Tensor[]{saved(sx)}, new boolean[]{true}, g);
            }
        }.attach(out);
    }

    /** 0.5 x (1 + tanh(c (x + a x^3))) from primitive ops. */
    static Tensor geluReference(Tensor x) {
        Tensor x3 = Arith.pow(x, 3f);
        Tensor ax3 = Arith.mulScalar(x3, Gelu.A);
        Tensor inner = Arith.add(x, ax3);
        Tensor u = Arith.mulScalar(inner, Gelu.C);
        Tensor t = Arith.tanh(u);
        Tensor onePlus = Arith.addScalar(t, 1f);
        Tensor half = Arith.mulScalar(x, 0.5f);
        Tensor y = Arith.mul(half, onePlus);
        Rel.all(x3, ax3, inner, u, t, onePlus, half);
        return y;
    }

    /**
     * Mean cross-entropy of logits [N, V] (or [..., V]) against INT32 targets of the leading shape. Targets equal to
     * {@code ignoreIndex} are left out of the mean. Saves the logits and the targets.
     */
    static Tensor crossEntropy(Tensor logits, Tensor targets, int ignoreIndex) {
        Rel.requireFp32("cross_entropy", logits);
        if (targets.dtype() != DType.INT32) throw new IllegalArgumentException("cross_entropy: targets must be INT32, got " + targets.dtype());
        int v = last(logits), rows = rows(logits);
        if (targets.numel() != rows) {
            throw new IllegalArgumentException("cross_entropy: logits " + java.util.Arrays.toString(logits.shape()) + " need "
                    + rows + " targets, got shape " + java.util.Arrays.toString(targets.shape()));
        }
        OpStats.Frame frame = OpStats.begin("cross_entropy");
        Tensor out = Tensor.empty("cross_entropy", new int[0]);
        out.data()[0] = CrossEntropyKernel.forward(logits.data(), logits.offset(), targets.intData(), targets.offset(), rows, v, ignoreIndex);
        if (frame != null) frame.end(Costs.SOFTMAX_FORWARD * logits.numel(), OpStats.bytes(logits, targets, out));
        if (!Node.shouldRecord(logits)) return out;
        return new Node("cross_entropy", logits) {
            final int sl = save(logits), st = save(targets);

            @Override
            protected Tensor[] backwardFast(Tensor g) {
                Tensor x = saved(sl), t = saved(st);
                OpStats.Frame frame = OpStats.begin("cross_entropy");
                Tensor dx = Tensor.empty("cross_entropy.backward", x.shape());
                CrossEntropyKernel.backward(x.data(), x.offset(), t.intData(), t.offset(), rows, v, ignoreIndex,
                        g.data()[g.offset()], dx.data(), 0);
                if (frame != null) frame.end(Costs.CROSS_ENTROPY_BACKWARD * x.numel(), OpStats.bytes(x, t, g, dx));
                return new Tensor[]{dx};
            }

            @Override
            protected Tensor[] backward(Tensor g) {
                Tensor t = saved(st);
                Tensor onehot = Tensor.zeros(rows, v);
                int counted = 0;
                for (int r = 0; r < rows; r++) {
                    int tr = t.intData()[t.offset() + r];
                    if (tr == ignoreIndex) continue;
                    onehot.data()[r * v + tr] = 1f;
                    counted++;
                }
                float scale = counted == 0 ? 0f : -1f / counted;
                Tensor[] r = Decomposed.vjp(in -> {
                    Tensor x2 = Views.reshape(in[0], rows, v);
                    Tensor lp = logSoftmax(x2);
                    Tensor picked = Arith.mul(lp, onehot);
                    Tensor s = Reduce.sumAll(picked);
                    Tensor loss = Arith.mulScalar(s, scale);
                    Rel.all(x2, lp, picked, s);
                    return loss;
                }, new Tensor[]{saved(sl)}, new boolean[]{true}, g);
                onehot.release();
                return r;
            }
        }.attach(out);
    }
}
