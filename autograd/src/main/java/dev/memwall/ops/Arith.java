package dev.memwall.ops;

import dev.memwall.autograd.Node;
import dev.memwall.autograd.OpStats;
import dev.memwall.autograd.Shape;
import dev.memwall.autograd.Tensor;
import dev.memwall.kernels.Elementwise;
import dev.memwall.kernels.Elementwise.Binary;
import dev.memwall.kernels.Elementwise.Unary;

/** Elementwise arithmetic with broadcasting, and the pointwise functions. Each saves only what its rule reads. */
final class Arith {
    private Arith() {
    }

    static Tensor binaryRaw(Binary op, Tensor a, Tensor b, String name) {
        Rel.requireFp32(name, a, b);
        int[] shape = Shape.broadcast(a.shape(), b.shape(), name);
        OpStats.Frame frame = OpStats.begin(name);
        Tensor out = Tensor.empty(name, shape);
        Elementwise.binary(op, a.data(), a.offset(), Shape.broadcastStrides(a.shape(), shape),
                b.data(), b.offset(), Shape.broadcastStrides(b.shape(), shape), out.data(), 0, shape);
        if (frame != null) frame.end(out.numel(), OpStats.bytes(a, b, out));
        return out;
    }

    static Tensor add(Tensor a, Tensor b) {
        Tensor out = binaryRaw(Binary.ADD, a, b, "add");
        if (!Node.shouldRecord(a, b)) return out;
        int[] sa = a.shape(), sb = b.shape();
        return new Node("add", a, b) {
            @Override
            protected Tensor[] backward(Tensor g) {
                return new Tensor[]{needsGrad(0) ? Reduce.sumTo(g, sa) : null, needsGrad(1) ? Reduce.sumTo(g, sb) : null};
            }
        }.attach(out);
    }

    static Tensor sub(Tensor a, Tensor b) {
        Tensor out = binaryRaw(Binary.SUB, a, b, "sub");
        if (!Node.shouldRecord(a, b)) return out;
        int[] sa = a.shape(), sb = b.shape();
        return new Node("sub", a, b) {
            @Override
            protected Tensor[] backward(Tensor g) {
                Tensor gb = null;
                if (needsGrad(1)) {
                    Tensor s = Reduce.sumTo(g, sb);
                    gb = mulScalar(s, -1f);
                    Rel.all(s);
                }
                return new Tensor[]{needsGrad(0) ? Reduce.sumTo(g, sa) : null, gb};
            }
        }.attach(out);
    }

    static Tensor mul(Tensor a, Tensor b) {
        Tensor out = binaryRaw(Binary.MUL, a, b, "mul");
        if (!Node.shouldRecord(a, b)) return out;
        return new MulNode(a, b).attach(out);
    }

    private static final class MulNode extends Node {
        private final int[] sa, sb;
        private final int savedA, savedB;

        MulNode(Tensor a, Tensor b) {
            super("mul", a, b);
            sa = a.shape();
            sb = b.shape();
            savedB = needsGrad(0) ? save(b) : -1;
            savedA = needsGrad(1) ? save(a) : -1;
        }

        @Override
        protected Tensor[] backward(Tensor g) {
            return new Tensor[]{needsGrad(0) ? product(g, saved(savedB), sa) : null,
                    needsGrad(1) ? product(g, saved(savedA), sb) : null};
        }

        private static Tensor product(Tensor g, Tensor other, int[] shape) {
            Tensor p = mul(g, other);
            Tensor r = Reduce.sumTo(p, shape);
            Rel.all(p);
            return r;
        }
    }

    static Tensor div(Tensor a, Tensor b) {
        Tensor out = binaryRaw(Binary.DIV, a, b, "div");
        if (!Node.shouldRecord(a, b)) return out;
        return new DivNode(a, b).attach(out);
    }

    private static final class DivNode extends Node {
        private final int[] sa, sb;
        private final int savedA, savedB;

        DivNode(Tensor a, Tensor b) {
            super("div", a, b);
            sa = a.shape();
            sb = b.shape();
            savedB = save(b);
            savedA = needsGrad(1) ? save(a) : -1;
        }

        @Override
        protected Tensor[] backward(Tensor g) {
            Tensor b = saved(savedB);
            Tensor ga = null, gb = null;
            Tensor q = div(g, b);
            if (needsGrad(0)) ga = Reduce.sumTo(q, sa);
            if (needsGrad(1)) { // d(a/b)/db = -a/b^2 = -(g/b) * (a/b)
                Tensor ab = div(saved(savedA), b);
                Tensor p = mul(q, ab);
                Tensor s = Reduce.sumTo(p, sb);
                gb = mulScalar(s, -1f);
                Rel.all(ab, p, s);
            }
            Rel.all(q);
            return new Tensor[]{ga, gb};
        }
    }

    static Tensor mulScalar(Tensor x, float c) {
        return affine(x, c, 0f, "mul_scalar");
    }

    static Tensor addScalar(Tensor x, float c) {
        return affine(x, 1f, c, "add_scalar");
    }

    /** x * scale + shift. */
    static Tensor affine(Tensor x, float scale, float shift, String name) {
        Rel.requireFp32(name, x);
        OpStats.Frame frame = OpStats.begin(name);
        Tensor out = Tensor.empty(name, x.shape());
        Elementwise.affine(x.data(), x.offset(), scale, shift, out.data(), 0, x.numel());
        if (frame != null) frame.end(x.numel(), OpStats.bytes(x, out));
        if (!Node.shouldRecord(x)) return out;
        return new Node(name, x) {
            @Override
            protected Tensor[] backward(Tensor g) {
                return new Tensor[]{scale == 1f ? g.share() : mulScalar(g, scale)};
            }
        }.attach(out);
    }

    static Tensor unaryRaw(Unary op, Tensor x, String name) {
        Rel.requireFp32(name, x);
        OpStats.Frame frame = OpStats.begin(name);
        Tensor out = Tensor.empty(name, x.shape());
        Elementwise.unary(op, x.data(), x.offset(), out.data(), 0, x.numel());
        if (frame != null) frame.end(x.numel(), OpStats.bytes(x, out));
        return out;
    }

    static Tensor exp(Tensor x) {
        Tensor out = unaryRaw(Unary.EXP, x, "exp");
        if (!Node.shouldRecord(x)) return out;
        return new OutputSavingNode("exp", x) {
            @Override
            protected Tensor[] backward(Tensor g) {
                return new Tensor[]{mul(g, output())};
            }
        }.attachAndSave(out);
    }

    static Tensor tanh(Tensor x) {
        Tensor out = unaryRaw(Unary.TANH, x, "tanh");
        if (!Node.shouldRecord(x)) return out;
        return new OutputSavingNode("tanh", x) {
            @Override
            protected Tensor[] backward(Tensor g) { // g * (1 - y^2)
                Tensor y2 = pow(output(), 2f);
                Tensor one = affine(y2, -1f, 1f, "affine");
                Tensor r = mul(g, one);
                Rel.all(y2, one);
                return new Tensor[]{r};
            }
        }.attachAndSave(out);
    }

    static Tensor log(Tensor x) {
        Tensor out = unaryRaw(Unary.LOG, x, "log");
        if (!Node.shouldRecord(x)) return out;
        return new Node("log", x) {
            final int sx = save(x);

            @Override
            protected Tensor[] backward(Tensor g) {
                return new Tensor[]{div(g, saved(sx))};
            }
        }.attach(out);
    }

    static Tensor pow(Tensor x, float p) {
        Rel.requireFp32("pow", x);
        OpStats.Frame frame = OpStats.begin("pow");
        Tensor out = Tensor.empty("pow", x.shape());
        Elementwise.pow(x.data(), x.offset(), p, out.data(), 0, x.numel());
        if (frame != null) frame.end(x.numel(), OpStats.bytes(x, out));
        if (!Node.shouldRecord(x)) return out;
        return new Node("pow", x) {
            final int sx = save(x);

            @Override
            protected Tensor[] backward(Tensor g) { // g * p * x^(p-1)
                if (p == 1f) return new Tensor[]{g.share()};
                Tensor xq = p == 2f ? saved(sx).share() : pow(saved(sx), p - 1f);
                Tensor xp = mulScalar(xq, p);
                Tensor r = mul(g, xp);
                Rel.all(xq, xp);
                return new Tensor[]{r};
            }
        }.attach(out);
    }
}
