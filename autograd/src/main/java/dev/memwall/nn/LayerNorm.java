package dev.memwall.nn;

import dev.memwall.autograd.Tensor;
import dev.memwall.ops.F;

/** Layer norm over the last axis with a learned scale and shift; eps 1e-5 as in PyTorch. */
public final class LayerNorm extends Module {
    public static final float EPS = 1e-5f;

    public LayerNorm(int dim) {
        param("weight", Tensor.full(1f, dim));
        param("bias", Tensor.zeros(dim));
    }

    public Tensor forward(Tensor x) {
        return F.layerNorm(x, p("weight"), p("bias"), EPS);
    }
}
