package dev.memwall.nn;

import dev.memwall.autograd.Tensor;
import dev.memwall.ops.F;
import dev.memwall.rng.Rng;

/** y = x · Wᵀ + b, with W [out, in] as in PyTorch. Saves its input (through matmul). */
public final class Linear extends Module {
    public final int in, out;
    private final boolean bias;

    public Linear(int in, int out, boolean bias, Rng rng) {
        this.in = in;
        this.out = out;
        this.bias = bias;
        param("weight", Tensor.randn(rng, 0.02f, out, in));
        if (bias) param("bias", Tensor.zeros(out));
    }

    public Tensor weight() {
        return p("weight");
    }

    public Tensor forward(Tensor x) {
        return F.linear(x, weight(), bias ? p("bias") : null);
    }
}
