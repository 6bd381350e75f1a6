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

    /**
     * The directions of the coming estimate, one per draw, over the flat layout: for callers that take the products
     * themselves (region by region under checkpointing) instead of from a createGraph backward's {@code .grad()}.
     */
    List<float[]> hessianDirections();

    /**
     * Adds a product taken by the caller: {@code hz} is (part of) H·z for direction {@code z} (one of
     * {@link #hessianDirections()}), over flat elements [offset, offset + hz.numel()); several parts of the same
     * elements add up (a parameter used by several regions).
     */
    void addHessianProduct(float[] z, int offset, Tensor hz);

    /** The full-length sums the products went into this step (to be summed over ranks), or null if none yet. */
    float[] hessianSums();

    /**
     * Drops this step's products unused: the step was skipped (loss scaling found inf or NaN), so {@link Optimizer#step()}
     * does not run and the next attempt must take its products afresh rather than add to these.
     */
    void discardHessianSums();
}
