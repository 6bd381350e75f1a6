package dev.memwall.format;

/**
 * What a narrowing conversion does with a magnitude that does not fit the target format.
 *
 * <p>A value overflows when its magnitude <em>after</em> round-to-nearest-even exceeds the
 * format's largest finite value; values that round down to the largest finite value are not
 * overflow. Infinite inputs are treated as overflowing values. NaN inputs are never affected by
 * the mode: they always become the format's NaN.
 */
public enum Overflow {
    /**
     * Clamp: finite out-of-range values and infinities become the largest finite value of the
     * format with the input's sign. NaN stays NaN.
     */
    SATURATE,

    /**
     * Do not clamp: out-of-range values and infinities become the signed infinity of the format
     * if it has one (FP16, BF16, FP8 E5M2) and NaN otherwise (FP8 E4M3, which has no infinity).
     */
    NON_SATURATE
}
