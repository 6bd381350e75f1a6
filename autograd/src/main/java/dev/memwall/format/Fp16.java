package dev.memwall.format;

import java.util.Objects;

/**
 * IEEE 754 binary16 ("half"): 1 sign bit, 5 exponent bits (bias 15), 10 mantissa bits, with
 * subnormals, signed zeros, infinities ({@code S.11111.0000000000}) and NaNs (exponent all ones,
 * mantissa non-zero).
 *
 * <p>Encoding rounds to nearest, ties to even. The largest finite value is 65504
 * ({@code 0x7BFF}); the next step would be 65536, so the tie at 65520 goes to the even code
 * {@code 0x7C00}, i.e. it overflows, and every value of 65520 or more overflows while values
 * below it round to 65504. Overflow (including infinite input) follows {@link Overflow}: ±65504
 * when saturating, ±infinity otherwise. NaN input becomes the canonical quiet NaN
 * {@code 0x7E00} with the input's sign. Decoding is exact; NaN payloads are carried into the
 * float's upper mantissa bits.
 *
 * <p>Written with integer bit manipulation because {@code Float.floatToFloat16} only exists
 * from Java 20 on.
 */
public final class Fp16 {
    /** Largest finite value, 65504. */
    public static final float MAX = 65504f;
    /** Smallest positive normal value, 2^-14. */
    public static final float MIN_NORMAL = 0x1p-14f;
    /** Smallest positive subnormal value, 2^-24. */
    public static final float MIN_SUBNORMAL = 0x1p-24f;

    private static final int MAN_BITS = 10;
    private static final int BIAS = 15;
    private static final int MAX_CODE = 0x7BFF;
    private static final int INF_CODE = 0x7C00;
    private static final int NAN_CODE = 0x7E00;

    private Fp16() {}

    /** Exact float value of a binary16 bit pattern. */
    public static float toFloat(short bits) {
        int sign = (bits & 0x8000) << 16;
        int exp = (bits >>> MAN_BITS) & 0x1F;
        int man = bits & 0x3FF;
        if (exp == 0x1F) {
            return Float.intBitsToFloat(sign | MiniFloat.FLOAT_INF | (man << 13));
        }
        if (exp != 0) {
            return Float.intBitsToFloat(sign | ((exp + (127 - BIAS)) << 23) | (man << 13));
        }
        // Subnormal or zero: man * 2^-24 is exact, and OR-ing the sign keeps -0.0.
        return Float.intBitsToFloat(sign | Float.floatToRawIntBits(man * MIN_SUBNORMAL));
    }

    /** Nearest binary16 value (ties to even), with out-of-range handling chosen by {@code mode}. */
    public static short fromFloat(float f, Overflow mode) {
        Objects.requireNonNull(mode, "mode");
        int bits = Float.floatToRawIntBits(f);
        int sign = (bits >>> 16) & 0x8000;
        int abs = bits & 0x7FFFFFFF;
        if (abs > MiniFloat.FLOAT_INF) {
            return (short) (sign | NAN_CODE);
        }
        // Infinity needs no case of its own: its code lands above MAX_CODE like any overflow.
        int code = MiniFloat.roundMagnitude(abs, MAN_BITS, BIAS);
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
