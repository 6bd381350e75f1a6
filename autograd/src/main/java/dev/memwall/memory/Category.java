package dev.memwall.memory;

/** What a buffer is for. Every byte the framework allocates is counted under exactly one category at a time. */
public enum Category {
    /** Model weights (and FP32 master copies of them). */
    PARAMETER,
    /** Gradients of parameters. */
    GRADIENT,
    /** Optimizer moments and other per-parameter optimizer state. */
    OPTIMIZER_STATE,
    /** Buffers saved by an autograd node for its backward rule. */
    ACTIVATION,
    /** Everything else an op or a step allocates: forward outputs not (yet) saved, gradients flowing backward, scratch. */
    TEMPORARY,
    /** Send and receive buffers of collectives. */
    COMMUNICATION,
    /**
     * Scratch that kernels keep between calls, per thread: GEMM's split-K partial sums (heap) and, on its staging
     * path, its native staging buffers (off the Java heap; {@code Gemm.workspaceOffHeap()}). Held until the thread's
     * outermost {@code Scope} closes or {@code Gemm.releaseWorkspace()}.
     */
    WORKSPACE,
    /**
     * Keys and values of the attention layers kept while a model generates text (one [heads, context, headDim] K and V
     * per layer), allocated when generation starts and released when it ends.
     */
    KV_CACHE;

    /**
     * Categories whose buffers belong to an owner that outlives a step. A TEMPORARY buffer that an autograd node
     * saves is counted as ACTIVATION while saved; persistent buffers keep their category when saved.
     */
    public boolean persistent() {
        return this == PARAMETER || this == GRADIENT || this == OPTIMIZER_STATE || this == COMMUNICATION
                || this == KV_CACHE;
    }
}
