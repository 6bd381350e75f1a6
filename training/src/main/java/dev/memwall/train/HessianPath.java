package dev.memwall.train;

/**
 * How a {@code SecondOrder} optimizer's step takes the gradient and the Hessian-vector products of each micro-batch.
 * <ul>
 * <li>{@link #FORWARD_OVER_REVERSE} (the default): one fused forward and backward pass with a tangent beside every
 * value gives g and H·z together ({@code rop.GptRop}, {@code checkpoint.ForwardOverReverse}), its blocks checkpointed
 * as the installed policy says. Where it does not apply (active dropout, an autocast or FP8 precision, gradients
 * handed to buckets or parameters gathered per unit by ZeRO stages 2 and 3) the step takes the {@link #REGIONS} route.
 * <li>{@link #REGIONS}: under a checkpointing policy, the double-VJP region by region ({@code checkpoint.HvpByRegions});
 * without one, {@link #CREATE_GRAPH}.
 * <li>{@link #CREATE_GRAPH}: a createGraph backward, then {@code SecondOrder.accumulateHessian} differentiates the
 * gradient's graph again (keeps every node of that graph until the products have run).
 * </ul>
 */
public enum HessianPath {
    FORWARD_OVER_REVERSE, REGIONS, CREATE_GRAPH
}
