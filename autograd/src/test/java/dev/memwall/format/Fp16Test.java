package dev.memwall.format;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Arrays;
import org.junit.jupiter.api.Test;

class Fp16Test extends FormatContract {
    private static final ReferenceFormat REF = new ReferenceFormat("FP16", 5, 10, 15, true);

    @Override
    ReferenceFormat ref() {
        return REF;
    }

    @Override
    float decode(int bits) {
        return Fp16.toFloat((short) bits);
    }

    @Override
    int encode(float f, Overflow mode) {
        return Fp16.fromFloat(f, mode) & 0xFFFF;
    }

    @Override
    int[] encodeBulk(float[] src, int srcOff, int dstLen, int dstOff, int n, Overflow mode, int fill) {
        short[] dst = new short[dstLen];
        Arrays.fill(dst, (short) fill);
        Fp16.encode(src, srcOff, dst, dstOff, n, mode);
        int[] out = new int[dstLen];
        for (int i = 0; i < dstLen; i++) {
            out[i] = dst[i] & 0xFFFF;
        }
        return out;
    }

    @Override
    float[] decodeBulk(int[] src, int srcOff, int dstLen, int dstOff, int n, float fill) {
        short[] s = new short[src.length];
        for (int i = 0; i < src.length; i++) {
            s[i] = (short) src[i];
        }
        float[] dst = new float[dstLen];
        Arrays.fill(dst, fill);
        Fp16.decode(s, srcOff, dst, dstOff, n);
        return dst;
    }

    @Override
    float max() {
        return Fp16.MAX;
    }

    @Override
    float minNormal() {
        return Fp16.MIN_NORMAL;
    }

    @Override
    float minSubnormal() {
        return Fp16.MIN_SUBNORMAL;
    }

    @Test
    void knownEncodings() {
        Overflow m = Overflow.NON_SATURATE;
        assertThat(encode(1f, m)).isEqualTo(0x3C00);
        assertThat(encode(-2f, m)).isEqualTo(0xC000);
        assertThat(encode(0.1f, m)).isEqualTo(0x2E66);
        assertThat(encode(1f / 3, m)).isEqualTo(0x3555);
        assertThat(encode(0x1p-14f, m)).isEqualTo(0x0400);
        assertThat(encode(0x1p-24f, m)).isEqualTo(0x0001);
        assertThat(encode(0x1.ffcp-15f, m)).as("max subnormal 1023*2^-24 + half unit rounds up into min normal")
                .isEqualTo(0x0400);
        assertThat(encode(4095f / 2048, m)).as("(2 - 2^-10) + half ulp: odd, so the tie carries into 2.0").isEqualTo(0x4000);
        assertThat(encode(2049f, m)).as("tie between 2048 (even) and 2050").isEqualTo(0x6800);
        assertThat(encode(2051f, m)).as("tie between 2050 (odd) and 2052").isEqualTo(0x6802);
    }

    @Test
    void overflowEdgesAtMax() {
        for (Overflow mode : MODES) {
            int over = mode == Overflow.SATURATE ? 0x7BFF : 0x7C00;
            assertThat(encode(65504f, mode)).isEqualTo(0x7BFF);
            assertThat(encode(Math.nextDown(65520f), mode)).isEqualTo(0x7BFF);
            assertThat(encode(65520f, mode)).as("tie; 0x7BFF is odd so it rounds up = overflow").isEqualTo(over);
            assertThat(encode(-65520f, mode)).isEqualTo(0x8000 | over);
            assertThat(encode(Math.nextUp(65520f), mode)).isEqualTo(over);
            assertThat(encode(1e10f, mode)).isEqualTo(over);
            assertThat(encode(Float.POSITIVE_INFINITY, mode)).isEqualTo(over);
            assertThat(encode(Float.NEGATIVE_INFINITY, mode)).isEqualTo(0x8000 | over);
            assertThat(encode(Float.NaN, mode)).isEqualTo(0x7E00);
            assertThat(encode(-Float.NaN, mode) & 0x7FFF).isEqualTo(0x7E00);
            assertThat(encode(Float.intBitsToFloat(0xFFC00000), mode)).isEqualTo(0xFE00);
        }
        assertThat(Fp16.toFloat((short) 0x7C00)).isEqualTo(Float.POSITIVE_INFINITY);
        assertThat(Fp16.toFloat((short) 0xFC00)).isEqualTo(Float.NEGATIVE_INFINITY);
        assertThat(Fp16.toFloat((short) 0x7C01)).isNaN();
        assertThat(Fp16.toFloat((short) 0x7BFF)).isEqualTo(65504f);
    }

    /** Every 37th float with an exponent inside (and a little below) the FP16 range, both signs. */
    @Test
    void strideOverTheWholeFp16RangeMatchesTheOracle() {
        Mismatches mm = new Mismatches();
        long count = 0;
        for (int bits = 0x33000000; bits <= 0x47800000; bits += 37) {
            // Alternating the sign covers negatives without doubling the run time.
            float x = Float.intBitsToFloat((count & 1) == 0 ? bits : bits | 0x80000000);
            check(mm, x, Overflow.NON_SATURATE, REF.nearest(x, Overflow.NON_SATURATE), "stride");
            count++;
        }
        // Saturation only differs at the very top, so check the other mode there densely.
        for (int bits = 0x477F0000; bits <= 0x47800000; bits++) {
            float x = Float.intBitsToFloat(bits);
            check(mm, x, Overflow.SATURATE, REF.nearest(x, Overflow.SATURATE), "stride top");
        }
        assertThat(count).isGreaterThan(9_000_000L);
        mm.assertNone("FP16 stride vs oracle");
    }
}
