package dev.memwall.ops;

import dev.memwall.autograd.Node;
import dev.memwall.autograd.OpStats;
import dev.memwall.autograd.Shape;
import dev.memwall.autograd.Tensor;
import dev.memwall.kernels.Layout;

/**
 * Shape ops. Reshape is a view (same storage, no copy); permute, slice and concat produce new contiguous tensors,
 * since every kernel reads contiguous rows.
 */
final class Views {
    private Views() {
    }

    /** A view with a new shape; one dimension may be -1 and is inferred. */
    static Tensor reshape(Tensor x, int... shape) {
        x.checkAlive("reshape");
        int[] target = infer(shape, x.numel(), x.shape());
        int[] xs = x.shape();
        Tensor out = Tensor.view(x, 0, target);
        if (!Node.shouldRecord(x)) return out;
        return new Node("reshape", x) {
            @Override
            protected Tensor[] backward(Tensor g) {
                return new Tensor[]{reshape(g, xs)};
            }
        }.attach(out);
    }

    private static int[] infer(int[] shape, int numel, int[] from) {
        int[] t = shape.clone();
        int unknown = -1, known = 1;
        for (int d = 0; d < t.length; d++) {
            if (t[d] == -1) {
                if (unknown >= 0) throw new IllegalArgumentException("reshape: only one dimension can be -1 in " + Shape.str(shape));
                unknown = d;
            } else if (t[d] < 0) {
                throw new IllegalArgumentException("reshape: invalid dimension in " + Shape.str(shape));
            } else {
                known *= t[d];
            }
        }
        if (unknown >= 0) {
            if (known == 0 || numel % known != 0) {
                throw new IllegalArgumentException("reshape: cannot reshape " + Shape.str(from) + " into " + Shape.str(shape));
            }
            t[unknown] = numel / known;
        }
        if (Shape.numel(t) != numel) {
            throw new IllegalArgumentException("reshape: cannot reshape " + Shape.str(from) + " (" + numel + " elements) into " + Shape.str(shape));
        }
        return t;
    }

    static Tensor permute(Tensor x, int... axes) {
        Rel.requireFp32("permute", x);
        int r = x.dim();
        if (axes.length != r) throw new IllegalArgumentException("permute: " + axes.length + " axes for a tensor of rank " + r);
        int[] xs = x.shape(), outShape = new int[r], inverse = new int[r];
        boolean[] seen = new boolean[r];
        for (int d = 0; d < r; d++) {
            int a = Shape.axis(axes[d], r, "permute");
            if (seen[a]) throw new IllegalArgumentException("permute: repeated axis in " + Shape.str(axes));
            seen[a] = true;
            outShape[d] = xs[a];
            inverse[a] = d;
        }
        int[] norm = new int[r];
        for (int d = 0; d < r; d++) norm[d] = Shape.axis(axes[d], r, "permute");
        OpStats.Frame frame = OpStats.begin("permute");
        Tensor out = Tensor.empty("permute", outShape);
        Layout.permute(x.data(), x.offset(), xs, norm, out.data(), 0);
        if (frame != null) frame.end(0, OpStats.bytes(x, out));
        if (!Node.shouldRecord(x)) return out;
        return new Node("permute", x) {
            @Override
            protected Tensor[] backward(Tensor g) {
                return new Tensor[]{permute(g, inverse)};
            }
        }.attach(out);
    }

    static Tensor transpose(Tensor x, int a, int b) {
        int r = x.dim();
        int[] axes = new int[r];
        for (int d = 0; d < r; d++) axes[d] = d;
        int aa = Shape.axis(a, r, "transpose"), bb = Shape.axis(b, r, "transpose");
        axes[aa] = bb;
        axes[bb] = aa;
        return permute(x, axes);
    }

    static Tensor slice(Tensor x, int axis, int start, int end) {
        Rel.requireFp32("slice", x);
        int[] xs = x.shape();
        int a = Shape.axis(axis, xs.length, "slice");
        if (start < 0 || end > xs[a] || start > end) {
            throw new IllegalArgumentException("slice: range [" + start + ", " + end + ") outside axis " + a + " of " + Shape.str(xs));
        }
        int len = end - start;
        OpStats.Frame frame = OpStats.begin("slice");
        Tensor out = Tensor.empty("slice", Shape.withSize(xs, a, len));
        Layout.slice(x.data(), x.offset(), Shape.prod(xs, 0, a), xs[a], Shape.prod(xs, a + 1, xs.length), start, len, out.data(), 0);
        if (frame != null) frame.end(0, 2 * OpStats.bytes(out)); // the rows it copies, read and written
        if (!Node.shouldRecord(x)) return out;
        return new Node("slice", x) {
            @Override
            protected Tensor[] backward(Tensor g) {
                return new Tensor[]{pad(g, a, start, xs[a])};
            }
        }.attach(out);
    }

    /** Zero tensor with {@code axisLen} along {@code axis}, holding {@code g} at [start, start + g.size(axis)). */
    static Tensor pad(Tensor g, int axis, int start, int axisLen) {
        Rel.requireFp32("pad", g);
        int[] gs = g.shape();
        int a = Shape.axis(axis, gs.length, "pad");
        int len = gs[a];
        if (start < 0 || start + len > axisLen) {
            throw new IllegalArgumentException("pad: " + len + " rows at " + start + " do not fit in " + axisLen);
        }
        OpStats.Frame frame = OpStats.begin("pad");
        Tensor out = Tensor.empty("pad", Shape.withSize(gs, a, axisLen));
        Layout.pad(g.data(), g.offset(), Shape.prod(gs, 0, a), axisLen, Shape.prod(gs, a + 1, gs.length), start, len, out.data(), 0);
        if (frame != null) frame.end(0, OpStats.bytes(g, out));
        if (!Node.shouldRecord(g)) return out;
        return new Node("pad", g) {
            @Override
            protected Tensor[] backward(Tensor gg) {
                return new Tensor[]{slice(gg, a, start, start + len)};
            }
        }.attach(out);
    }

    static Tensor concat(int axis, Tensor... xs) {
        if (xs.length == 0) throw new IllegalArgumentException("concat: no tensors");
        Rel.requireFp32("concat", xs);
        int[] first = xs[0].shape();
        int a = Shape.axis(axis, first.length, "concat");
        int total = 0;
        int[] starts = new int[xs.length], lens = new int[xs.length];
        for (int k = 0; k < xs.length; k++) {
            int[] s = xs[k].shape();
            if (s.length != first.length) throw new IllegalArgumentException("concat: ranks differ: " + Shape.str(first) + " and " + Shape.str(s));
            for (int d = 0; d < s.length; d++) {
                if (d != a && s[d] != first[d]) {
                    throw new IllegalArgumentException("concat: shapes " + Shape.str(first) + " and " + Shape.str(s) + " differ outside axis " + a);
                }
            }
            starts[k] = total;
            lens[k] = s[a];
            total += s[a];
        }
        int outer = Shape.prod(first, 0, a), inner = Shape.prod(first, a + 1, first.length);
        OpStats.Frame frame = OpStats.begin("concat");
        Tensor out = Tensor.empty("concat", Shape.withSize(first, a, total));
        float[] o = out.data();
        for (int k = 0; k < xs.length; k++) {
            float[] src = xs[k].data();
            int run = lens[k] * inner, off = xs[k].offset();
            for (int r = 0; r < outer; r++) System.arraycopy(src, off + r * run, o, (r * total + starts[k]) * inner, run);
        }
        if (frame != null) frame.end(0, OpStats.bytes(xs) + OpStats.bytes(out));
        if (!Node.shouldRecord(xs)) return out;
        int totalF = total;
        return new Node("concat", xs) {
            @Override
            protected Tensor[] backward(Tensor g) {
                Tensor[] r = new Tensor[starts.length];
                for (int k = 0; k < r.length; k++) if (needsGrad(k)) r[k] = slice(g, a, starts[k], starts[k] + lens[k]);
                assert totalF == g.shape()[a];
                return r;
            }
        }.attach(out);
    }
}
