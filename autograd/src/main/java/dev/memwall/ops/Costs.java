package dev.memwall.ops;

/**
 * FLOPs per element that the profile counts for the fused kernels (an exp, a tanh or a division counts as one FLOP, as
 * a max or a compare does). GEMMs count 2·m·n·k and elementwise arithmetic one FLOP per output element; copies
 * (slice, permute, pad, embedding gather) count none. These are operation counts of the kernels as written, for
 * placing an op on the roofline, not a measurement.
 */
final class Costs {
    /** max, x·scale − max, exp, sum, times 1/sum. */
    static final double SOFTMAX_FORWARD = 5;
    /** g·y, sum, g − sum, times y, times scale. */
    static final double SOFTMAX_BACKWARD = 5;
    /** sum, x − mean, square and sum, times rstd, times w, plus b. */
    static final double LAYER_NORM_FORWARD = 7;
    /** x̂ (2), dw and db (3), dx from its two row sums (5). */
    static final double LAYER_NORM_BACKWARD = 10;
    /** x³, a·x³ + x, c·(...), tanh, 1 + t, 0.5·x·(...). */
    static final double GELU_FORWARD = 8;
    /** The forward's terms again plus the derivative of tanh and the chain rule. */
    static final double GELU_BACKWARD = 14;
    /** softmax of the row (sub max, exp, times 1/sum), minus one-hot, times the upstream gradient. */
    static final double CROSS_ENTROPY_BACKWARD = 5;

    private Costs() {
    }

    /**
     * Elements of {@code mats} causal T×T matrices at or below the diagonal: the ones the causal softmax computes (the
     * masked upper half is written as zeros and costs no arithmetic).
     */
    static double causalElements(int mats, int t) {
        return (double) mats * t * (t + 1) / 2;
    }
}
