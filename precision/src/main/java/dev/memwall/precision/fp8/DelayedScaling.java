package dev.memwall.precision.fp8;

import java.util.Objects;

/**
 * Per-tensor scaling from the amax of earlier iterations (Transformer Engine's {@code DelayedScaling}): each tensor role
 * keeps a window of its last {@code amaxHistoryLen} amaxes; a tensor is quantized with the scale computed before its own
 * amax was seen, {@code scale = (fp8_max / amax) / 2^margin} with amax reduced from the window by {@code amaxComputeAlgo}.
 * Because the amax is older than the tensor, a spike above it saturates (the cast clamps, never overflows to NaN).
 *
 * @param format          E4M3, E5M2 or HYBRID
 * @param amaxHistoryLen  window length, at least 1 (default 1,024)
 * @param amaxComputeAlgo MAX over the window (default) or MOST_RECENT
 * @param margin          the scale is divided by 2^margin, leaving headroom (default 0)
 */
public record DelayedScaling(Format format, int amaxHistoryLen, AmaxAlgo amaxComputeAlgo, int margin) implements Fp8Recipe {
    public static final int DEFAULT_HISTORY = 1024;

    public DelayedScaling {
        Objects.requireNonNull(format, "format");
        Objects.requireNonNull(amaxComputeAlgo, "amaxComputeAlgo");
        if (amaxHistoryLen < 1) throw new IllegalArgumentException("delayed scaling: amax history length must be at least 1, got " + amaxHistoryLen);
        if (margin < 0) throw new IllegalArgumentException("delayed scaling: margin must not be negative, got " + margin);
    }

    /** HYBRID, history 1,024, MAX, margin 0: Transformer Engine's defaults. */
    public DelayedScaling() {
        this(Format.HYBRID, DEFAULT_HISTORY, AmaxAlgo.MAX, 0);
    }

    @Override
    public String name() {
        return "delayed";
    }
}
