package dev.memwall.train;

/**
 * How a {@code SecondOrder} optimizer's step takes the gradient and the Hessian-vector products of each micro-batch.
 * <ul>
 * <li>{@link #FORWARD_OVER_REVERSE} (the default): one fused forward and backward pass with a tangent beside every
 * value gives g and H·z together ({@code rop.GptRop}, {@code checkpoint.ForwardOverReverse}), its blocks checkpointed
 * as the installed policy says; under BF16/FP16 autocast with autocast's GEMM rules, and in an FP32 run with the
 * tangent GEMMs in {@link HessianDtype}. At ZeRO stage 2 (FP32 products) it adds g into the step's transient flat
 * buffer and the products to the z ⊙ Hz sums, both reduce-scattered after the last micro-batch
 * ({@link StageTwoHessian}), so the absolute value is taken of the products summed over micro-batches and ranks.
 * Where it does not apply (active dropout, an FP8 precision, autocast or BF16 products at stage 2) the step takes the
 * {@link #REGIONS} route. No route runs at ZeRO stage 3, which gathers one unit's parameters at a time: a
 * second-order optimizer is refused there ({@code HessianProducts.requireSupportedStage}).
 * <li>{@link #REGIONS}: under a checkpointing policy, the double-VJP region by region ({@code checkpoint.HvpByRegions});
 * without one, {@link #CREATE_GRAPH}.
 * <li>{@link #CREATE_GRAPH}: a createGraph backward, then {@code SecondOrder.accumulateHessian} differentiates the
 * gradient's graph again (keeps every node of that graph until the products have run).
 * </ul>
 * A {@code Trainer} starts with the route named by the system property {@value #PROPERTY}
 * ({@code forward-over-reverse}, the default, {@code regions} or {@code create-graph}), so any command can be run on
 * an older route ({@code MEMWALL_JAVA_OPTS=-Dmemwall.hessian=regions ./memwall compare-optimizers}).
 */
public enum HessianPath {
    FORWARD_OVER_REVERSE, REGIONS, CREATE_GRAPH;

    /** System property that selects a new trainer's route. */
    public static final String PROPERTY = "memwall.hessian";

    /** The property's name for this route. */
    public String optionName() {
        return name().toLowerCase(java.util.Locale.ROOT).replace('_', '-');
    }

    /** The route {@value #PROPERTY} names, {@link #FORWARD_OVER_REVERSE} when unset. */
    public static HessianPath fromProperty() {
        String v = System.getProperty(PROPERTY, FORWARD_OVER_REVERSE.optionName());
        for (HessianPath p : values()) if (p.optionName().equals(v)) return p;
        throw new IllegalArgumentException("-D" + PROPERTY + " must be forward-over-reverse, regions or create-graph, got '" + v + "'");
    }
}
