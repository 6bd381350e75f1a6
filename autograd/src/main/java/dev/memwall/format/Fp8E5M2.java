package dev.memwall.format;

import java.util.Objects;

/**
 * OCP 8-bit floating point E5M2 (OCP "OFP8" specification): 1 sign bit, 5 exponent bits
 * (bias 15), 2 mantissa bits. It follows IEEE conventions: subnormals down to 2^-16, signed
 * zeros, infinities {@code S.11111.00} and NaNs {@code S.11111.{01,10,11}}; the largest finite
 * value is {@code S.11110.11} = ±57344.
 *
 * <p>Encoding rounds to nearest, ties to even, and a value overflows when its magnitude after
 * rounding exceeds 57344. The next step would be 65536, so the tie at 61440 goes to the even
 * code {@code 11111.00} and overflows (57344's mantissa {@code 11} is odd); everything of 61440
 * or more overflows, everything below rounds to 57344. Overflow (including infinite input)
 * follows {@link Overflow}: ±57344 when saturating, ±infinity otherwise. NaN input becomes
 * {@link #NAN} (the quiet pattern {@code S.11111.10}) with the input's sign. Decoding is exact
 * and goes through a 256-entry table; all three NaN patterns decode to a float NaN.
 */
public final class Fp8E5M2 {
    /** Largest finite value, 57344 ({@code S.11110.11}). */
    public static final float MAX = 57344f;
    /** Smallest positive normal value, 2^-14. */
    public static final float MIN_NORMAL = 0x1p-14f;
    /** Smallest positive subnormal value, 2^-16. */
    public static final float MIN_SUBNORMAL = 0x1p-16f;
    /** The canonical positive (quiet) NaN pattern {@code 0.11111.10}. */
    public static final byte NAN = 0x7E;

    private static final int MAN_BITS = 2;
    private static final int BIAS = 15;
    private static final int MAX_CODE = 0x7B;
    private static final int INF_CODE = 0x7C;

    private static final float[] DECODE = new float[256];

    static {
        for (int b = 0; b < 256; b++) {
            int mag = b & 0x7F;
            float v = mag == INF_CODE ? Float.POSITIVE_INFINITY
                    : mag > INF_CODE ? Float.NaN
                    : MiniFloat.decodeMagnitude(mag, MAN_BITS, BIAS);
            // OR-ing the sign bit (rather than negating) gives a well-defined sign to NaN too.
            DECODE[b] = Float.intBitsToFloat(Float.floatToRawIntBits(v) | (b & 0x80) << 24);
        }
    }

    private Fp8E5M2() {}

    /** Exact float value of an E5M2 bit pattern. */
    public static float toFloat(byte bits) {
        return DECODE[bits & 0xFF];
    }

    /** Nearest E5M2 value (ties to even), with out-of-range handling chosen by {@code mode}. */
    public static byte fromFloat(float f, Overflow mode) {
        Objects.requireNonNull(mode, "mode");
        int bits = Float.floatToRawIntBits(f);
        int sign = (bits >>> 24) & 0x80;
        int abs = bits & 0x7FFFFFFF;
        if (abs > MiniFloat.FLOAT_INF) {
            return (byte) (sign | NAN);
        }
        // Infinity needs no case of its own: its code lands above MAX_CODE like any overflow.
        int code = MiniFloat.roundMagnitude(abs, MAN_BITS, BIAS);
        if (code > MAX_CODE) {
            code = mode == Overflow.SATURATE ? MAX_CODE : INF_CODE;
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
