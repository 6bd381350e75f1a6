package dev.memwall.nn;

import dev.memwall.autograd.Tensor;
import dev.memwall.ops.F;
import dev.memwall.rng.Rng;

/** Inverted dropout in training mode, identity in eval mode. Masks come from a capturable {@link Rng}. */
public final class Dropout extends Module {
    public final float p;
    private final Rng rng;

    public Dropout(float p, Rng rng) {
        this.p = p;
        this.rng = rng;
    }

    /** Returns a new handle in every case (a shared one when nothing is dropped), so callers release uniformly. */
    public Tensor forward(Tensor x) {
        return F.dropout(x, p, isTraining(), rng);
    }
}
