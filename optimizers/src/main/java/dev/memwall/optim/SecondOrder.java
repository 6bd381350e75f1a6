package dev.memwall.optim;

import dev.memwall.autograd.Tensor;

import java.util.List;

/**
 * An optimizer that reads Hessian-vector products as well as gradients. The protocol is explicit, llm.c-style: before
 * each micro-batch the caller asks {@link #needsHessian()}; when true it runs that micro-batch's backward with
 * {@code createGraph} (so each parameter's {@code .grad()} carries the graph of the gradient) and calls
 * {@link #accumulateHessian(List)} before the micro-batch's scope closes; data parallel callers then sum
 * {@link #hessianSums()} over ranks, like the gradients, before {@link Optimizer#step()}.
 */
public interface SecondOrder {
    /** Whether the coming {@link Optimizer#step()} recomputes its Hessian estimate (and so needs the products). */
    boolean needsHessian();

    /**
     * Adds this micro-batch's share of the Hessian estimate from the graph its createGraph backward left in the
     * parameters' {@code .grad()}; {@code parameters} are the model's, in flat-buffer order.
     */
    void accumulateHessian(List<Tensor> parameters);

    /** The full-length sums the products went into this step (to be summed over ranks), or null if none yet. */
    float[] hessianSums();
}
