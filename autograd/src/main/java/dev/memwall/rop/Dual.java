package dev.memwall.rop;

import dev.memwall.autograd.Tensor;

/**
 * A primal value and its tangent (forward), or an adjoint and the adjoint's tangent (backward), both FP32 and
 * contiguous. A dual is either temporary (its handles belong to the open scope until released) or kept
 * ({@link #keep()}: counted as ACTIVATION, like what an autograd node saves, until {@link #release()}).
 */
record Dual(Tensor v, Tensor t, boolean kept) {
    /** A temporary dual of two fresh zero-filled tensors. */
    static Dual zeros(String op, int... shape) {
        return new Dual(Tensor.empty("rop." + op, shape), Tensor.empty("rop." + op + ".tangent", shape), false);
    }

    /** A temporary dual of two fresh tensors whose contents are unspecified: for a rule that writes every element. */
    static Dual forOverwrite(String op, int... shape) {
        return new Dual(Tensor.forOverwrite("rop." + op, shape), Tensor.forOverwrite("rop." + op + ".tangent", shape), false);
    }

    /** The same values, now held for backward (ACTIVATION); this temporary dual's handles are released. */
    Dual keep() {
        if (kept) return this;
        Tensor a = v.saveForBackward(), b = t.saveForBackward();
        v.release();
        t.release();
        return new Dual(a, b, true);
    }

    void release() {
        if (kept) {
            v.releaseSavedForBackward();
            t.releaseSavedForBackward();
        } else {
            v.releaseIfAlive();
            t.releaseIfAlive();
        }
    }

    float[] va() {
        return v.data();
    }

    int vo() {
        return v.offset();
    }

    float[] ta() {
        return t.data();
    }

    int to() {
        return t.offset();
    }

    static void releaseAll(Dual... duals) {
        for (Dual d : duals) if (d != null) d.release();
    }
}
