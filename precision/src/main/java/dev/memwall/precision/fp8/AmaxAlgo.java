package dev.memwall.precision.fp8;

/** How delayed scaling reduces its amax history to one amax (Transformer Engine's {@code amax_compute_algo}). */
public enum AmaxAlgo {
    /** The largest amax in the history window: stable, slow to shrink after a spike. */
    MAX,
    /** The amax recorded last. */
    MOST_RECENT
}
