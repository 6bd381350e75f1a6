package dev.memwall.nn;

import dev.memwall.autograd.Tensor;
import dev.memwall.ops.F;
import dev.memwall.rng.Rng;

/**
 * y = x · Wᵀ + b, with W [out, in] as in PyTorch. Saves its input (through matmul).
 *
 * <p>W starts normal with std 1/√in (LeCun), so y has the scale of x at any width, and b at zero. GPT-2's fixed
 * 0.02 suits width 768; at width 128 it makes every attention score start near 0.05 (std σ²·width) and the MLP's GELU
 * near linear, and the gradient that makes a head attend to one position is proportional to the other of q and k.
 * The default addition run, whose sum digits need a head to find two operand digits at once, then sat on a plateau
 * for hundreds of steps and left it at a step that moved with the last bit of a GEMM (see TrainCommand's defaults).
 */
public final class Linear extends Module {
    public final int in, out;
    private final boolean bias;

    public Linear(int in, int out, boolean bias, Rng rng) {
        this.in = in;
        this.out = out;
        this.bias = bias;
        param("weight", Tensor.randn(rng, initStd(in), out, in));
        if (bias) param("bias", Tensor.zeros(out));
    }

    /** The std of a fresh weight: 1/√in. */
    public static float initStd(int in) {
        return (float) (1 / Math.sqrt(in));
    }

    public Tensor weight() {
        return p("weight");
    }

    public Tensor forward(Tensor x) {
        return F.linear(x, weight(), bias ? p("bias") : null);
    }
}
