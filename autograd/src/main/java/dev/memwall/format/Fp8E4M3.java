package dev.memwall.format;

import java.util.Objects;

/**
 * OCP 8-bit floating point E4M3 (OCP "OFP8" specification, also known as {@code float8_e4m3fn}):
 * 1 sign bit, 4 exponent bits (bias 7), 3 mantissa bits, with subnormals down to 2^-9 and
 * signed zeros. It has <em>no infinities</em>: the all-ones exponent still holds normal values
 * except {@code S.1111.111}, which is the only NaN encoding, so the largest finite value is
 * {@code S.1111.110} = ±448.
 *
 * <p>Encoding rounds to nearest, ties to even, and a value overflows when its magnitude after
 * rounding exceeds 448. The next step above 448 would be 480 (the code taken by NaN), so:
 * <ul>
 *   <li>values below the midpoint 464 round to 448;</li>
 *   <li>the tie at exactly 464 rounds to the even mantissa {@code 110}, i.e. to 448, and is
 *       <em>not</em> overflow (the odd neighbour {@code 111} is NaN anyway);</li>
 *   <li>anything above 464, and infinity, overflows: ±448 under {@link Overflow#SATURATE},
 *       NaN (with the input's sign) under {@link Overflow#NON_SATURATE}.</li>
 * </ul>
 * NaN input becomes {@link #NAN} with the input's sign ({@code 0x7F} or {@code 0xFF}). Decoding
 * is exact and goes through a 256-entry table.
 */
public final class Fp8E4M3 {
    /** Largest finite value, 448 ({@code S.1111.110}). */
    public static final float MAX = 448f;
    /** Smallest positive normal value, 2^-6. */
    public static final float MIN_NORMAL = 0x1p-6f;
    /** Smallest positive subnormal value, 2^-9. */
    public static final float MIN_SUBNORMAL = 0x1p-9f;
    /** The positive NaN pattern {@code 0.1111.111}; {@code 0xFF} is the negative one. */
    public static final byte NAN = 0x7F;

    private static final int MAN_BITS = 3;
    private static final int BIAS = 7;
    private static final int MAX_CODE = 0x7E;

    private static final float[] DECODE = new float[256];

    static {
        for (int b = 0; b < 256; b++) {
            int mag = b & 0x7F;
            float v = mag == NAN ? Float.NaN : MiniFloat.decodeMagnitude(mag, MAN_BITS, BIAS);
            // OR-ing the sign bit (rather than negating) gives a well-defined sign to NaN too.
            DECODE[b] = Float.intBitsToFloat(Float.floatToRawIntBits(v) | (b & 0x80) << 24);
        }
    }

    private Fp8E4M3() {}

    /** Exact float value of an E4M3 bit pattern (NaN for {@code 0x7F} and {@code 0xFF}). */
    public static float toFloat(byte bits) {
        return DECODE[bits & 0xFF];
    }

    /** Nearest E4M3 value (ties to even), with out-of-range handling chosen by {@code mode}. */
    public static byte fromFloat(float f, Overflow mode) {
        Objects.requireNonNull(mode, "mode");
        int bits = Float.floatToRawIntBits(f);
        int sign = (bits >>> 24) & 0x80;
        int abs = bits & 0x7FFFFFFF;
        if (abs > MiniFloat.FLOAT_INF) {
            return (byte) (sign | NAN);
        }
        // Infinity needs no case of its own: its code lands above MAX_CODE like any overflow.
        // A rounded code of 0x7F would be 480 (the NaN pattern): only values above 464 get it.
        int code = MiniFloat.roundMagnitude(abs, MAN_BITS, BIAS);
        if (code > MAX_CODE) {
            code = mode == Overflow.SATURATE ? MAX_CODE : NAN;
        }
        return (byte) (sign | code);
    }

    /** {@code dst[dstOff + i] = fromFloat(src[srcOff + i], mode)} for {@code i < n}. */
    public static void encode(float[] src, int srcOff, byte[] dst, int dstOff, int n, Overflow mode) {
        Objects.requireNonNull(mode, "mode");
        Objects.checkFromIndexSize(srcOff, n, src.length);
        Objects.checkFromIndexSize(dstOff, n, dst.length);
        for (int i = 0; i < n; i++) {
            dst[dstOff + i] = fromFloat(src[srcOff + i], mode);
        }
    }

    /** {@code dst[dstOff + i] = toFloat(src[srcOff + i])} for {@code i < n}. */
    public static void decode(byte[] src, int srcOff, float[] dst, int dstOff, int n) {
        Objects.checkFromIndexSize(srcOff, n, src.length);
        Objects.checkFromIndexSize(dstOff, n, dst.length);
        for (int i = 0; i < n; i++) {
            dst[dstOff + i] = DECODE[src[srcOff + i] & 0xFF];
        }
    }
}
