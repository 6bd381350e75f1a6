package dev.memwall.precision.fp8;

/** How a tile's scale follows from its amax; see {@link ScaleMath}. */
public enum ScaleRule {
    /** {@code fp8_max / amax} in FP32 (current scaling). */
    CURRENT,
    /** The largest power of two not above {@code fp8_max / amax} (block scaling). */
    POWER_OF_TWO_DOWN,
    /** An E8M0 byte, rounded up so the tile's amax never saturates (MX). */
    E8M0_UP
}
