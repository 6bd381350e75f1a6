package dev.memwall.autograd;

import dev.memwall.format.Overflow;
import dev.memwall.memory.Category;

/**
 * The autograd identity of an FP32 activation that a {@link CastPolicy} had a node keep in a low format (autocast's
 * saved activations, {@link CastPolicy#saved}): when the node's rule reads the slot it gets a fresh FP32 copy
 * carrying this identity — its producer or leaf — so that under {@code createGraph} gradients flow through it as
 * through the original, evaluated at the rounded values (as {@link CompressedActivations} restores its copies).
 */
record LoweredSave(boolean requiresGrad, Node gradFn, Object gradKey, DType format) {
    static LoweredSave of(Tensor t, DType format) {
        return new LoweredSave(t.requiresGrad, t.gradFn, t.gradKey, format);
    }

    /**
     * {@code held} (the low-format copy, or what saved-tensor hooks unpacked from it) as a new FP32 tensor. Hooks that
     * recomputed the original instead of keeping the copy ({@link SavedTensorHooks#packLowered}) hand back FP32: it is
     * rounded to the copy's format first (nearest even, overflow to infinity, as the policy made the copy), so the
     * rule reads bitwise the values it would have read from the copy.
     */
    Tensor decode(Tensor held) {
        if (held.dtype() != format && held.dtype() == DType.FP32) {
            Tensor rounded = held.to(format, Overflow.NON_SATURATE, Category.TEMPORARY);
            try {
                return decode(rounded);
            } finally {
                rounded.release();
            }
        }
        Tensor out = held.to(DType.FP32, Overflow.SATURATE, Category.TEMPORARY); // exact: FP32 holds every BF16 value
        out.requiresGrad = requiresGrad;
        out.gradFn = gradFn;
        out.gradKey = requiresGrad ? gradKey : out;
        return out;
    }
}
