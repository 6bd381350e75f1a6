package dev.memwall.nn;

import dev.memwall.autograd.Tensor;
import dev.memwall.ops.F;
import dev.memwall.rng.Rng;

/** A [count, dim] table looked up by INT32 ids. Saves the ids. */
public final class Embedding extends Module {
    public final int count, dim;

    public Embedding(int count, int dim, Rng rng) {
        this.count = count;
        this.dim = dim;
        param("weight", Tensor.randn(rng, 0.02f, count, dim));
    }

    public Tensor weight() {
        return p("weight");
    }

    public Tensor forward(Tensor ids) {
        return F.embedding(weight(), ids);
    }
}
