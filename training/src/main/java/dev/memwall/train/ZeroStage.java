package dev.memwall.train;

/**
 * How much of the model state each data-parallel rank keeps (ZeRO, Rajbhandari et al. 2020; DeepSpeed's
 * {@code zero_optimization.stage}, FSDP's sharding strategy). Ψ is the parameter count, N the world size; FP32
 * AdamW needs 4Ψ bytes of parameters, 4Ψ of gradients and 8Ψ of moments (m, v) in one process.
 *
 * <p>Stages 0 to 2 move the same ring-equivalent volume per step: 2·(N−1)/N·4Ψ bytes sent (an all-reduce of the
 * gradients, or a reduce-scatter of the gradients plus an all-gather of the parameters); stage 3 gathers the
 * parameters twice, 3·(N−1)/N·4Ψ.
 */
public enum ZeroStage {
    /** Plain data parallelism: all-reduce the whole gradient buffer, full AdamW on every rank. 16Ψ per rank. */
    STAGE_0,
    /** Optimizer state sharded: reduce-scatter gradients, update this rank's 1/N, all-gather parameters. 8Ψ + 8Ψ/N. */
    STAGE_1,
    /**
     * Gradients sharded too: reduce-scattered in buckets during backward, each rank keeps its 1/N of them. 4Ψ + 12Ψ/N.
     */
    STAGE_2,
    /**
     * Parameters sharded too: each unit (embeddings, a block, the head) all-gathered just before its forward and again
     * for its backward, its gradients reduce-scattered as soon as its backward is done. 16Ψ/N; 1.5× the bytes.
     */
    STAGE_3;

    /** The stage's number (0 to 3), as {@code train --zero} takes it. */
    public int number() {
        return ordinal();
    }

    /** The stage numbered {@code n}; an unknown number is an error naming the stages there are. */
    public static ZeroStage of(int n) {
        ZeroStage[] all = values();
        if (n < 0 || n >= all.length) {
            throw new IllegalArgumentException("ZeRO stage " + n + " is not available; choose 0 to " + (all.length - 1));
        }
        return all[n];
    }

    /** Whether each rank updates only its shard of the flat buffers (and the buffers are padded to N shards). */
    public boolean shardsOptimizerState() {
        return this != STAGE_0;
    }

    /**
     * Bytes of parameters, gradients and optimizer state one rank holds between steps, by the ZeRO formula for FP32
     * AdamW and Ψ = {@code params} parameters over {@code n} ranks (padding to N shards left out).
     */
    public double modelStateBytes(long params, int n) {
        if (n < 1) throw new IllegalArgumentException("world size " + n + " < 1");
        double psi = params;
        return switch (this) {
            case STAGE_0 -> 16 * psi;                // params 4Ψ + grads 4Ψ + AdamW m, v 8Ψ
            case STAGE_1 -> 8 * psi + 8 * psi / n;   // params 4Ψ + grads 4Ψ + m, v of one shard 8Ψ/N
            case STAGE_2 -> 4 * psi + 12 * psi / n;  // params 4Ψ + a gradient shard 4Ψ/N + its m, v 8Ψ/N
            case STAGE_3 -> 16 * psi / n;            // a parameter shard 4Ψ/N + a gradient shard 4Ψ/N + m, v 8Ψ/N
        };
    }

    /**
     * Ring-equivalent bytes one rank sends (and receives) per step by the formula: 2·(N−1)/N·4Ψ at stages 0 to 2,
     * 3·(N−1)/N·4Ψ at stage 3 (parameters gathered in forward and again in backward, gradients reduce-scattered).
     */
    public double commBytesPerStep(long params, int n) {
        if (n < 1) throw new IllegalArgumentException("world size " + n + " < 1");
        return (this == STAGE_3 ? 3.0 : 2.0) * (n - 1) / n * 4.0 * params;
    }
}
