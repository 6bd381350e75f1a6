package dev.memwall.ops;

/**
 * FLOPs per element that the profile counts for the fused kernels (an exp, a tanh or a division counts as one FLOP, as
 * a max or a compare does). GEMMs count 2·m·n·k and elementwise arithmetic one FLOP per output element; copies
 * (slice, permute, pad, embedding gather) count none. These are operation counts of the kernels as written, for
 * placing an op on the roofline, not a measurement.
 *
 * <p>The public methods are the counts of attention over a KV cache ({@code dev.memwall.generate.GptDecoder}), whose
 * kernels are called outside the ops: t new positions after {@code start} cached ones, n = start + t keys per head, all
 * FP32 (4 bytes an element). The cache is read in place, so its bytes are the n cached rows each product reads, not
 * the whole preallocated context.
 */
public final class Costs {
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

    /** Scores the causal rows of t new positions after {@code start} cached ones see, over all heads: row i sees start + i + 1. */
    public static double cachedVisible(int heads, int t, int start) {
        return (double) heads * ((double) t * start + (double) t * (t + 1) / 2);
    }

    /** q·Kᵀ or P·V over the cache, batched over heads: 2 · heads · t · n · headDim (the GEMM computes masked scores too). */
    public static double cachedGemmFlops(int heads, int t, int n, int headDim) {
        return 2.0 * heads * t * n * headDim;
    }

    /**
     * Bytes of q·Kᵀ (reads q [heads, t, hd] and n cached keys per head, writes scores [heads, t, n]) and equally of P·V
     * (reads P [heads, t, n] and n cached values per head, writes [heads, t, hd]).
     */
    public static double cachedGemmBytes(int heads, int t, int n, int headDim) {
        return 4.0 * heads * ((double) t * headDim + (double) n * headDim + (double) t * n);
    }

    /** The softmax of the visible scores (as the causal softmax's forward). */
    public static double cachedSoftmaxFlops(int heads, int t, int start) {
        return SOFTMAX_FORWARD * cachedVisible(heads, t, start);
    }

    /** Reads the visible scores, writes every score of [heads, t, start + t] (the masked ones as zeros), in place. */
    public static double cachedSoftmaxBytes(int heads, int t, int start) {
        return 4 * cachedVisible(heads, t, start) + 4.0 * heads * t * (start + t);
    }

    /**
     * Splitting qkv [t, 3·dim] into heads: reads it once, writes q [heads, t, hd] and appends K and V to the cache. A
     * copy: no FLOPs.
     */
    public static double splitHeadsBytes(int t, int dim) {
        return 4.0 * 3 * t * dim * 2;
    }

    /** Merging the heads' outputs [heads, t, hd] into [t, dim]: read once, written once. */
    public static double mergeHeadsBytes(int t, int dim) {
        return 4.0 * t * dim * 2;
    }

    /** Token plus position embedding of t tokens: one addition per output element. */
    public static double embedFlops(int t, int dim) {
        return (double) t * dim;
    }

    /** Reads the t int32 ids, the t token rows and t position rows; writes [t, dim]. */
    public static double embedBytes(int t, int dim) {
        return 4.0 * t + 4.0 * 3 * t * dim;
    }

    /**
     * Elements of {@code mats} causal T×T matrices at or below the diagonal: the ones the causal softmax computes (the
     * masked upper half is written as zeros and costs no arithmetic).
     */
    static double causalElements(int mats, int t) {
        return (double) mats * t * (t + 1) / 2;
    }
}
