package dev.memwall.format;

import java.util.Objects;

/**
 * bfloat16: 1 sign bit, 8 exponent bits (bias 127), 7 mantissa bits — the upper half of an
 * IEEE binary32, so it has float's exponent range, subnormals, infinities and NaNs.
 *
 * <p>Decoding is exact (append 16 zero bits). Encoding keeps the top 16 bits of the float,
 * rounded to nearest, ties to even, on the dropped 16 bits; because the exponent fields line up,
 * float subnormals round straight to BF16 subnormals. The largest finite value is
 * {@code 0x7F7F} = (2 - 2^-7)·2^127; the next step would be 2^128, so the tie halfway between
 * them (float {@code 0x7F7F8000}) rounds to the even code {@code 0x7F80} and overflows, as does
 * everything above it, while everything below it rounds to the largest finite value. Overflow
 * (including infinite input) follows {@link Overflow}: ±max when saturating, ±infinity
 * otherwise. A NaN never truncates to infinity: it becomes the quiet NaN {@code 0x7FC0} with the
 * input's sign.
 */
public final class Bf16 {
    /** Largest finite value, (2 - 2^-7)·2^127 (bits {@code 0x7F7F}). */
    public static final float MAX = Float.intBitsToFloat(0x7F7F0000);
    /** Smallest positive normal value, 2^-126. */
    public static final float MIN_NORMAL = 0x1p-126f;
    /** Smallest positive subnormal value, 2^-133. */
    public static final float MIN_SUBNORMAL = 0x1p-133f;

    private static final int MAX_CODE = 0x7F7F;
    private static final int INF_CODE = 0x7F80;
    private static final int NAN_CODE = 0x7FC0;

    private Bf16() {}

    /** Exact float value of a bfloat16 bit pattern. */
    public static float toFloat(short bits) {
        return Float.intBitsToFloat(bits << 16);
    }

    /** Nearest bfloat16 value (ties to even), with out-of-range handling chosen by {@code mode}. */
    public static short fromFloat(float f, Overflow mode) {
        Objects.requireNonNull(mode, "mode");
        int bits = Float.floatToRawIntBits(f);
        int sign = (bits >>> 16) & 0x8000;
        int abs = bits & 0x7FFFFFFF;
        if (abs > MiniFloat.FLOAT_INF) {
            return (short) (sign | NAN_CODE);
        }
        // Same exponent field as float, so no rebiasing and no separate subnormal path; the
        // rounding carry walks into the next binade or, from the top binade, onto 0x7F80.
        int code = MiniFloat.rne(abs, 16);
        if (code > MAX_CODE) {
            code = mode == Overflow.SATURATE ? MAX_CODE : INF_CODE;
        }
        return (short) (sign | code);
    }

    /** {@code dst[dstOff + i] = fromFloat(src[srcOff + i], mode)} for {@code i < n}. */
    public static void encode(float[] src, int srcOff, short[] dst, int dstOff, int n, Overflow mode) {
        Objects.requireNonNull(mode, "mode");
        Objects.checkFromIndexSize(srcOff, n, src.length);
        Objects.checkFromIndexSize(dstOff, n, dst.length);
        for (int i = 0; i < n; i++) {
            dst[dstOff + i] = fromFloat(src[srcOff + i], mode);
        }
    }

    /** {@code dst[dstOff + i] = toFloat(src[srcOff + i])} for {@code i < n}. */
    public static void decode(short[] src, int srcOff, float[] dst, int dstOff, int n) {
        Objects.checkFromIndexSize(srcOff, n, src.length);
        Objects.checkFromIndexSize(dstOff, n, dst.length);
        for (int i = 0; i < n; i++) {
            dst[dstOff + i] = toFloat(src[srcOff + i]);
        }
    }
}
