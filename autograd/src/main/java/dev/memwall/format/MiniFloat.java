package dev.memwall.format;

/**
 * Conversion kernels shared by the narrow formats. Every format here is a binary format with an
 * implicit leading bit, a biased exponent and gradual underflow; only its mantissa width and
 * bias matter for rounding, while the special encodings (infinity, NaN, largest finite code)
 * differ and are resolved by each format class. Callers pass compile-time constants so that,
 * once inlined, the JIT folds all the shift amounts and offsets.
 */
final class MiniFloat {
    /** Bits of {@code +Infinity}; any larger sign-less pattern is a NaN. */
    static final int FLOAT_INF = 0x7F800000;

    private MiniFloat() {}

    /**
     * Rounds a finite float magnitude to the sign-less code {@code exponent << manBits | mantissa}
     * of the target format, round-to-nearest-even. The result is not clamped: a code above the
     * format's largest finite code means the value overflowed. An infinite {@code abs} also
     * yields such a code, which lets callers treat infinity as ordinary overflow.
     *
     * @param abs     {@code Float.floatToRawIntBits(f) & 0x7FFFFFFF}, not NaN
     * @param manBits stored mantissa bits of the target (at most 22)
     * @param bias    exponent bias of the target (at most 127)
     */
    static int roundMagnitude(int abs, int manBits, int bias) {
        if (abs >= (128 - bias) << 23) {
            // Normal in the target. Rebiasing the exponent in place keeps exponent and mantissa
            // contiguous, so a rounding carry out of the mantissa bumps the exponent: the value
            // moves into the next binade, or past the largest finite code, without extra cases.
            return rne(abs - ((127 - bias) << 23), 23 - manBits);
        }
        // Subnormal (or zero) in the target: count in units of the smallest subnormal,
        // 2^(1 - bias - manBits). The float is sig * 2^(exp - 150), with float subnormals
        // having no implicit bit and an effective exponent of 1.
        int exp = abs >>> 23;
        int sig = exp == 0 ? abs : (abs & 0x7FFFFF) | 0x800000;
        int shift = 151 - bias - manBits - Math.max(exp, 1);
        // sig < 2^24, so from a shift of 25 on it is below half a unit; this also keeps the
        // shift count inside the 0..31 range Java would otherwise silently wrap.
        return shift > 24 ? 0 : rne(sig, shift);
    }

    /** {@code v >>> shift} rounded to nearest, ties to even; {@code 1 <= shift <= 24}. */
    static int rne(int v, int shift) {
        // Adding (half - 1) rounds everything above half up and everything below down; adding
        // the kept LSB as well pushes exact ties up only when the kept part is odd.
        return (v + (1 << (shift - 1)) - 1 + ((v >>> shift) & 1)) >>> shift;
    }

    /** Exact value of a finite sign-less code; used to build decode tables. */
    static float decodeMagnitude(int mag, int manBits, int bias) {
        int exp = mag >>> manBits;
        int man = mag & ((1 << manBits) - 1);
        if (exp == 0) {
            // man < 2^manBits times a power of two well inside float's normal range: exact.
            return man * Math.scalb(1f, 1 - bias - manBits);
        }
        return Float.intBitsToFloat(((exp - bias + 127) << 23) | (man << (23 - manBits)));
    }
}
