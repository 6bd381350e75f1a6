package dev.memwall.nn;

import dev.memwall.autograd.Recompute;
import dev.memwall.autograd.Tensor;
import dev.memwall.ops.F;
import dev.memwall.rng.Rng;

/**
 * fc (D → 4D), GELU (tanh), out (4D → D). Saves fc's input, GELU's input and out's input; under selective
 * recomputation out's input (the GELU output) is recomputed from GELU's input.
 */
public final class Mlp extends Module {
    private final Linear fc, out;
    private final Dropout drop;

    public Mlp(int dim, float dropout, Rng rng, Rng dropoutRng) {
        this.fc = child("fc", new Linear(dim, 4 * dim, true, rng));
        this.out = child("out", new Linear(4 * dim, dim, true, rng));
        this.drop = child("drop", new Dropout(dropout, dropoutRng));
    }

    public Tensor forward(Tensor x) {
        Tensor h = fc.forward(x);
        Tensor a = Recompute.of(in -> F.gelu(in[0]), h); // 4D wide and one cheap pass over fc's output
        Tensor o = out.forward(a);
        Tensor y = drop.forward(o);
        h.release();
        a.release();
        o.release();
        return y;
    }
}
