package dev.memwall.ops;

import dev.memwall.autograd.DType;
import dev.memwall.autograd.Node;
import dev.memwall.autograd.OpStats;
import dev.memwall.autograd.Tensor;
import dev.memwall.kernels.Layout;
import dev.memwall.kernels.Parallel;
import dev.memwall.memory.Category;
import dev.memwall.rng.Rng;

/** Causal masking and dropout: ops whose backward is the same masking applied to the gradient. */
final class Masking {
    private Masking() {
    }

    /** Sets future positions (column > row in the last two axes, which must be square) to {@code value}. Saves nothing. */
    static Tensor causalFill(Tensor x, float value) {
        Rel.requireFp32("causal_mask", x);
        int[] s = x.shape();
        int t = s[s.length - 1];
        if (s.length < 2 || s[s.length - 2] != t) {
            throw new IllegalArgumentException("causal_mask: last two axes must be square, got " + java.util.Arrays.toString(s));
        }
        OpStats.Frame frame = OpStats.begin("causal_mask");
        Tensor out = Tensor.empty("causal_mask", s);
        Layout.causalFill(x.data(), x.offset(), out.data(), 0, x.numel() / Math.max(1, t * t), t, value);
        if (frame != null) frame.end(0, OpStats.bytes(x, out));
        if (!Node.shouldRecord(x)) return out;
        return new Node("causal_mask", x) {
            @Override
            protected Tensor[] backward(Tensor g) {
                return new Tensor[]{causalFill(g, 0f)};
            }
        }.attach(out);
    }

    /**
     * Inverted dropout: zeroes each element with probability p and scales the rest by 1/(1-p). The mask comes from
     * {@code rng} (counter-based, so a restored state replays it) and is saved as one byte per element.
     */
    static Tensor dropout(Tensor x, float p, boolean training, Rng rng) {
        Rel.requireFp32("dropout", x);
        if (p < 0f || p >= 1f) throw new IllegalArgumentException("dropout: p must be in [0, 1), got " + p);
        if (!training || p == 0f) return x.share();
        int n = x.numel();
        OpStats.Frame frame = OpStats.begin("dropout"); // the mask, then mask_scale's counts added to it
        Tensor mask = Tensor.empty(DType.BOOL, Category.TEMPORARY, "dropout.mask", x.shape());
        byte[] m = mask.byteData();
        long seed = rng.seed(), base = rng.advance(n);
        Parallel.range(n, 4, (from, to) -> {
            for (int i = from; i < to; i++) m[i] = Rng.uniform(seed, base + i) >= p ? (byte) 1 : 0;
        });
        Tensor out = maskScaleRaw(x, mask, 1f / (1f - p));
        if (frame != null) frame.end(0, OpStats.bytes(mask));
        if (Node.shouldRecord(x)) new MaskScaleNode(x, mask, 1f / (1f - p)).attach(out);
        mask.release();
        return out;
    }

    /** x * mask * scale for a BOOL mask of the same shape. */
    static Tensor maskScale(Tensor x, Tensor mask, float scale) {
        Tensor out = maskScaleRaw(x, mask, scale);
        if (!Node.shouldRecord(x)) return out;
        return new MaskScaleNode(x, mask, scale).attach(out);
    }

    private static Tensor maskScaleRaw(Tensor x, Tensor mask, float scale) {
        Rel.requireFp32("mask_scale", x);
        if (mask.dtype() != DType.BOOL || mask.numel() != x.numel()) {
            throw new IllegalArgumentException("mask_scale: mask must be BOOL with " + x.numel() + " elements");
        }
        OpStats.Frame frame = OpStats.begin("mask_scale");
        Tensor out = Tensor.empty("mask_scale", x.shape());
        float[] xd = x.data(), o = out.data();
        byte[] m = mask.byteData();
        int xo = x.offset(), mo = mask.offset();
        Parallel.range(x.numel(), 1, (from, to) -> {
            for (int i = from; i < to; i++) o[i] = m[mo + i] != 0 ? xd[xo + i] * scale : 0f;
        });
        if (frame != null) frame.end(x.numel(), OpStats.bytes(x, mask, out));
        return out;
    }

    private static final class MaskScaleNode extends Node {
        private final int slot;
        private final float scale;

        MaskScaleNode(Tensor x, Tensor mask, float scale) {
            super("mask_scale", x);
            this.scale = scale;
            this.slot = save(mask);
        }

        @Override
        protected Tensor[] backward(Tensor g) {
            return new Tensor[]{maskScale(g, saved(slot), scale)};
        }
    }
}
