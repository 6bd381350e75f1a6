package dev.memwall.ops;

import dev.memwall.autograd.Recompute;

import dev.memwall.autograd.DType;
import dev.memwall.autograd.Node;
import dev.memwall.autograd.OpStats;
import dev.memwall.autograd.Tensor;
import dev.memwall.format.Overflow;
import dev.memwall.memory.Category;

/**
 * A differentiable change of storage format ({@code x.to(dtype)} in PyTorch records a node; {@link Tensor#to} does
 * not). Forward rounds to nearest even; backward casts the incoming gradient back to the source's format (an FP32
 * source gets the FP32 gradient unchanged), which is the derivative of rounding almost everywhere: the
 * straight-through rule PyTorch's {@code ToCopyBackward} applies. The gradient's cast does not saturate: an overflow
 * stays infinite, so that loss scaling sees it.
 */
final class CastOp {
    private CastOp() {
    }

    static Tensor cast(Tensor x, DType target, Overflow overflow, Category category) {
        // A cast of a value marked for recomputation (autocast's operand of a GEMM that follows a layer norm) is as
        // cheap to make again: marked too, or the GEMM's node would keep the copy and nothing would be saved.
        if (Recompute.marks(x)) return Recompute.of(in -> castOf(in[0], target, overflow, category), x);
        return castOf(x, target, overflow, category);
    }

    private static Tensor castOf(Tensor x, DType target, Overflow overflow, Category category) {
        x.checkAlive("cast");
        if (!target.isFloating() || !x.dtype().isFloating()) {
            throw new IllegalArgumentException("cast: " + x.dtype() + " to " + target + " is not a conversion between floating formats");
        }
        OpStats.Frame frame = OpStats.begin("cast");
        Tensor out = x.to(target, overflow, category);
        if (frame != null) frame.end(x.numel(), OpStats.bytes(x, out));
        if (!Node.shouldRecord(x)) return out;
        DType source = x.dtype();
        return new Node("cast_" + target.name().toLowerCase(), x) {
            @Override
            protected Tensor[] backward(Tensor g) {
                if (g.dtype() == source) return new Tensor[]{g.share()};
                return new Tensor[]{cast(g, source, Overflow.NON_SATURATE, Category.TEMPORARY)};
            }
        }.attach(out);
    }

    /** {@code t} as an FP32 tensor for a kernel: itself, or a decoded TEMPORARY copy the caller releases. */
    static Tensor fp32(Tensor t) {
        t.checkAlive("decode");
        if (t.dtype() == DType.FP32) return t;
        if (!t.dtype().isFloating()) {
            throw new IllegalArgumentException("expected a floating operand, got " + t.dtype() + " " + java.util.Arrays.toString(t.shape()));
        }
        return t.to(DType.FP32, Overflow.SATURATE, Category.TEMPORARY);
    }

    /** Releases {@code decoded} when it is a copy made by {@link #fp32} of {@code original}. */
    static void releaseCopy(Tensor decoded, Tensor original) {
        if (decoded != null && decoded != original) decoded.release();
    }
}
