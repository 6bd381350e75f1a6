package dev.memwall.nn;

import dev.memwall.autograd.Tensor;
import dev.memwall.ops.F;
import dev.memwall.rng.Rng;

/**
 * A [count, dim] table looked up by INT32 ids. Saves the ids.
 *
 * <p>Entries start normal with std 1, as PyTorch's, the same scale as what a {@link Linear} (std 1/√in) writes into
 * the residual stream. With GPT-2's 0.02 and unit-scale blocks, the token and position a block after the first sees
 * would be ~2% of its input.
 */
public final class Embedding extends Module {
    public final int count, dim;

    public Embedding(int count, int dim, Rng rng) {
        this.count = count;
        this.dim = dim;
        param("weight", Tensor.randn(rng, 1f, count, dim));
    }

    public Tensor weight() {
        return p("weight");
    }

    public Tensor forward(Tensor ids) {
        return F.embedding(weight(), ids);
    }
}
