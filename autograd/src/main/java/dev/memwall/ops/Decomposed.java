package dev.memwall.ops;

import dev.memwall.autograd.Engine;
import dev.memwall.autograd.GradMode;
import dev.memwall.autograd.Tensor;

import java.util.function.Function;

/**
 * Second-order support for fused ops. A fused op's first-order rule uses its kernel; when the backward pass itself
 * must be differentiable (createGraph), the op is recomputed from primitive ops on its saved inputs, and the
 * vector-Jacobian product of that recomputation is taken with createGraph. The result is exact to all orders, and
 * the fused kernels never need hand-written second derivatives.
 */
final class Decomposed {
    private Decomposed() {
    }

    /**
     * Gradient of {@code <g, f(inputs)>} with respect to each input that {@code needs}, as a differentiable graph.
     * Inputs that need no gradient get null.
     */
    static Tensor[] vjp(Function<Tensor[], Tensor> f, Tensor[] inputs, boolean[] needs, Tensor g) {
        try (var on = GradMode.enableGrad()) {
            Tensor y = f.apply(inputs);
            int count = 0;
            for (boolean b : needs) if (b) count++;
            Tensor[] wrt = new Tensor[count];
            for (int k = 0, j = 0; k < inputs.length; k++) if (needs[k]) wrt[j++] = inputs[k];
            Tensor[] grads = Engine.grad(new Tensor[]{y}, wrt, new Tensor[]{g}, true, true, true);
            y.release();
            Tensor[] r = new Tensor[inputs.length];
            for (int k = 0, j = 0; k < inputs.length; k++) {
                if (!needs[k]) continue;
                r[k] = grads[j] != null ? grads[j] : Tensor.zeros(inputs[k].shape());
                j++;
            }
            return r;
        }
    }
}
