package dev.memwall.format;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Arrays;
import org.junit.jupiter.api.Test;

class Fp8E5M2Test extends FormatContract {
    private static final ReferenceFormat REF = new ReferenceFormat("FP8 E5M2", 5, 2, 15, true);

    @Override
    ReferenceFormat ref() {
        return REF;
    }

    @Override
    float decode(int bits) {
        return Fp8E5M2.toFloat((byte) bits);
    }

    @Override
    int encode(float f, Overflow mode) {
        return Fp8E5M2.fromFloat(f, mode) & 0xFF;
    }

    @Override
    int[] encodeBulk(float[] src, int srcOff, int dstLen, int dstOff, int n, Overflow mode, int fill) {
        byte[] dst = new byte[dstLen];
        Arrays.fill(dst, (byte) fill);
        Fp8E5M2.encode(src, srcOff, dst, dstOff, n, mode);
        int[] out = new int[dstLen];
        for (int i = 0; i < dstLen; i++) {
            out[i] = dst[i] & 0xFF;
        }
        return out;
    }

    @Override
    float[] decodeBulk(int[] src, int srcOff, int dstLen, int dstOff, int n, float fill) {
        byte[] s = new byte[src.length];
        for (int i = 0; i < src.length; i++) {
            s[i] = (byte) src[i];
        }
        float[] dst = new float[dstLen];
        Arrays.fill(dst, fill);
        Fp8E5M2.decode(s, srcOff, dst, dstOff, n);
        return dst;
    }

    @Override
    float max() {
        return Fp8E5M2.MAX;
    }

    @Override
    float minNormal() {
        return Fp8E5M2.MIN_NORMAL;
    }

    @Override
    float minSubnormal() {
        return Fp8E5M2.MIN_SUBNORMAL;
    }

    @Test
    void specValues() {
        assertThat(Fp8E5M2.NAN).isEqualTo((byte) 0x7E);
        assertThat(REF.values).hasSize(124); // 0 plus 123 positive finite values
        assertThat(Fp8E5M2.toFloat((byte) 0x7B)).isEqualTo(57344f);
        assertThat(Fp8E5M2.toFloat((byte) 0x7C)).isEqualTo(Float.POSITIVE_INFINITY);
        assertThat(Fp8E5M2.toFloat((byte) 0xFC)).isEqualTo(Float.NEGATIVE_INFINITY);
        for (int nan : new int[] {0x7D, 0x7E, 0x7F, 0xFD, 0xFE, 0xFF}) {
            assertThat(Fp8E5M2.toFloat((byte) nan)).isNaN();
        }
        assertThat(Fp8E5M2.toFloat((byte) 0x3C)).isEqualTo(1f);
        assertThat(Fp8E5M2.toFloat((byte) 0x04)).isEqualTo(0x1p-14f);
        assertThat(Fp8E5M2.toFloat((byte) 0x01)).isEqualTo(0x1p-16f);
        assertThat(encode(1.125f, Overflow.SATURATE)).as("tie between 1.0 (even) and 1.25").isEqualTo(0x3C);
        assertThat(encode(1.375f, Overflow.SATURATE)).as("tie between 1.25 (odd) and 1.5").isEqualTo(0x3E);
    }

    @Test
    void overflowEdgesAtMax() {
        // Max 57344 = 1.11b * 2^15; the next step would be 65536, the midpoint is 61440.
        for (Overflow mode : MODES) {
            int over = mode == Overflow.SATURATE ? 0x7B : 0x7C;
            assertThat(encode(57344f, mode)).isEqualTo(0x7B);
            assertThat(encode(Math.nextDown(61440f), mode)).isEqualTo(0x7B);
            assertThat(encode(61440f, mode)).as("tie; mantissa 11 is odd so it rounds up = overflow").isEqualTo(over);
            assertThat(encode(-61440f, mode)).isEqualTo(0x80 | over);
            assertThat(encode(65536f, mode)).isEqualTo(over);
            assertThat(encode(1e9f, mode)).isEqualTo(over);
            assertThat(encode(Float.POSITIVE_INFINITY, mode)).isEqualTo(over);
            assertThat(encode(Float.NEGATIVE_INFINITY, mode)).isEqualTo(0x80 | over);
            assertThat(encode(Float.NaN, mode)).isEqualTo(0x7E);
            assertThat(encode(Float.intBitsToFloat(0xFF800001), mode)).isEqualTo(0xFE);
        }
    }

    /**
     * E5M2 is FP16 with the low 8 mantissa bits dropped, so rounding an FP16 value to E5M2 must
     * equal round-to-nearest-even on the FP16 bit pattern itself: a second, independent oracle.
     */
    @Test
    void agreesWithRoundingTheFp16BitPatternForEveryFp16Value() {
        Mismatches mm = new Mismatches();
        for (int h = 0; h < 0x10000; h++) {
            int mag = h & 0x7FFF;
            if (mag >= 0x7C00) {
                continue; // infinities and NaNs are covered elsewhere
            }
            int sign = (h >>> 8) & 0x80;
            float x = Float.intBitsToFloat(Float.floatToRawIntBits(fp16Value(mag)) | (sign << 24));
            int q = mag >>> 8;
            int rest = mag & 0xFF;
            if (rest > 0x80 || (rest == 0x80 && (q & 1) == 1)) {
                q++;
            }
            for (Overflow mode : MODES) {
                int want = q > 0x7B ? REF.overflowResult(sign, mode) : sign | q;
                check(mm, x, mode, want, "FP16 value");
            }
        }
        mm.assertNone("E5M2 vs FP16 truncation");
    }

    private static float fp16Value(int mag) {
        int e = mag >>> 10;
        int m = mag & 0x3FF;
        return e == 0 ? (float) Math.scalb((double) m, -24) : (float) Math.scalb(1024.0 + m, e - 25);
    }
}
