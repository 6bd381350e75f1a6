package dev.memwall.ops;

import dev.memwall.autograd.Node;
import dev.memwall.autograd.OpStats;
import dev.memwall.autograd.Shape;
import dev.memwall.autograd.Tensor;
import dev.memwall.kernels.Elementwise;
import dev.memwall.kernels.Reductions;

import java.util.Arrays;

/** Sums, means, and the broadcast pair expand / sumTo (each is the other's backward). */
final class Reduce {
    private Reduce() {
    }

    /** Sums {@code g} down to {@code shape}, the inverse of broadcasting. Same shape: a shared handle, no copy. */
    static Tensor sumTo(Tensor g, int[] shape) {
        if (Arrays.equals(g.shape(), shape)) return Node.shouldRecord(g) ? g.share() : g.detach();
        Rel.requireFp32("sum_to", g);
        int[] gs = g.shape();
        int[] check = Shape.broadcast(shape, gs, "sum_to");
        if (!Arrays.equals(check, gs)) {
            throw new IllegalArgumentException("sum_to: shape " + Shape.str(gs) + " cannot be reduced to " + Shape.str(shape));
        }
        OpStats.Frame frame = OpStats.begin("sum_to");
        Tensor out = Tensor.empty("sum_to", shape);
        if (shape.length == 0 || Shape.numel(shape) == 1) {
            out.data()[0] = Reductions.sumAll(g.data(), g.offset(), g.numel());
        } else if (isTrailing(shape, gs)) { // [.., N] -> [N] (bias gradients): columns split over the cores
            int inner = Shape.numel(shape);
            Reductions.sumAxis(g.data(), g.offset(), 1, g.numel() / inner, inner, out.data(), 0);
        } else {
            Reductions.sumTo(g.data(), g.offset(), gs, out.data(), 0, out.numel(), Shape.broadcastStrides(shape, gs));
        }
        if (frame != null) frame.end(g.numel(), OpStats.bytes(g, out));
        if (!Node.shouldRecord(g)) return out;
        return new Node("sum_to", g) {
            @Override
            protected Tensor[] backward(Tensor gg) {
                return new Tensor[]{expand(gg, gs)};
            }
        }.attach(out);
    }

    /** Whether {@code shape} equals the trailing axes of {@code of} (ignoring leading 1s). */
    private static boolean isTrailing(int[] shape, int[] of) {
        int lead = 0;
        while (lead < shape.length && shape[lead] == 1) lead++;
        int n = shape.length - lead;
        if (n == 0 || n > of.length) return false;
        for (int k = 0; k < n; k++) if (shape[lead + k] != of[of.length - n + k]) return false;
        return true;
    }

    /** Broadcasts {@code x} to {@code shape} (materialized: tensors are contiguous). */
    static Tensor expand(Tensor x, int[] shape) {
        Rel.requireFp32("expand", x);
        if (Arrays.equals(x.shape(), shape)) return Node.shouldRecord(x) ? x.share() : x.detach();
        int[] xs = x.shape();
        int[] check = Shape.broadcast(xs, shape, "expand");
        if (!Arrays.equals(check, shape)) {
            throw new IllegalArgumentException("expand: shape " + Shape.str(xs) + " cannot be expanded to " + Shape.str(shape));
        }
        OpStats.Frame frame = OpStats.begin("expand");
        Tensor zero = Tensor.scalar(0f);
        Tensor out = Tensor.empty("expand", shape);
        Elementwise.binary(Elementwise.Binary.ADD, x.data(), x.offset(), Shape.broadcastStrides(xs, shape),
                zero.data(), zero.offset(), new int[shape.length], out.data(), 0, shape);
        zero.release();
        if (frame != null) frame.end(0, OpStats.bytes(x, out)); // a broadcast copy: its additions of zero are not work
        if (!Node.shouldRecord(x)) return out;
        return new Node("expand", x) {
            @Override
            protected Tensor[] backward(Tensor g) {
                return new Tensor[]{sumTo(g, xs)};
            }
        }.attach(out);
    }

    static Tensor sum(Tensor x, int axis, boolean keepDim) {
        Rel.requireFp32("sum", x);
        int[] xs = x.shape();
        int a = Shape.axis(axis, xs.length, "sum");
        int[] keep = Shape.withSize(xs, a, 1);
        OpStats.Frame frame = OpStats.begin("sum");
        Tensor out = Tensor.empty("sum", keepDim ? keep : Shape.without(xs, a));
        Reductions.sumAxis(x.data(), x.offset(), Shape.prod(xs, 0, a), xs[a], Shape.prod(xs, a + 1, xs.length), out.data(), 0);
        if (frame != null) frame.end(x.numel(), OpStats.bytes(x, out));
        if (!Node.shouldRecord(x)) return out;
        return new Node("sum", x) {
            @Override
            protected Tensor[] backward(Tensor g) {
                Tensor gk = keepDim ? g.share() : Views.reshape(g, keep);
                Tensor r = expand(gk, xs);
                Rel.all(gk);
                return new Tensor[]{r};
            }
        }.attach(out);
    }

    static Tensor mean(Tensor x, int axis, boolean keepDim) {
        int n = x.shape()[Shape.axis(axis, x.dim(), "mean")];
        Tensor s = sum(x, axis, keepDim);
        Tensor r = Arith.mulScalar(s, 1f / n);
        Rel.all(s);
        return r;
    }

    static Tensor sumAll(Tensor x) {
        Rel.requireFp32("sum", x);
        int[] xs = x.shape();
        OpStats.Frame frame = OpStats.begin("sum");
        Tensor out = Tensor.empty("sum", new int[0]);
        out.data()[0] = Reductions.sumAll(x.data(), x.offset(), x.numel());
        if (frame != null) frame.end(x.numel(), OpStats.bytes(x, out));
        if (!Node.shouldRecord(x)) return out;
        return new Node("sum", x) {
            @Override
            protected Tensor[] backward(Tensor g) {
                return new Tensor[]{expand(g, xs)};
            }
        }.attach(out);
    }

    static Tensor meanAll(Tensor x) {
        Tensor s = sumAll(x);
        Tensor r = Arith.mulScalar(s, 1f / x.numel());
        Rel.all(s);
        return r;
    }
}
