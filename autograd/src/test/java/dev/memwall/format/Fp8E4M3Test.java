package dev.memwall.format;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Arrays;
import org.junit.jupiter.api.Test;

class Fp8E4M3Test extends FormatContract {
    private static final ReferenceFormat REF = new ReferenceFormat("FP8 E4M3", 4, 3, 7, false);

    @Override
    ReferenceFormat ref() {
        return REF;
    }

    @Override
    float decode(int bits) {
        return Fp8E4M3.toFloat((byte) bits);
    }

    @Override
    int encode(float f, Overflow mode) {
        return Fp8E4M3.fromFloat(f, mode) & 0xFF;
    }

    @Override
    int[] encodeBulk(float[] src, int srcOff, int dstLen, int dstOff, int n, Overflow mode, int fill) {
        byte[] dst = new byte[dstLen];
        Arrays.fill(dst, (byte) fill);
        Fp8E4M3.encode(src, srcOff, dst, dstOff, n, mode);
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
        Fp8E4M3.decode(s, srcOff, dst, dstOff, n);
        return dst;
    }

    @Override
    float max() {
        return Fp8E4M3.MAX;
    }

    @Override
    float minNormal() {
        return Fp8E4M3.MIN_NORMAL;
    }

    @Override
    float minSubnormal() {
        return Fp8E4M3.MIN_SUBNORMAL;
    }

    @Test
    void specValues() {
        assertThat(Fp8E4M3.NAN).isEqualTo((byte) 0x7F);
        assertThat(REF.values).hasSize(127); // 0 plus 126 positive finite values
        assertThat(REF.infCode).isEqualTo(-1);
        assertThat(Fp8E4M3.toFloat((byte) 0x7E)).isEqualTo(448f);
        assertThat(Fp8E4M3.toFloat((byte) 0xFE)).isEqualTo(-448f);
        assertThat(Fp8E4M3.toFloat((byte) 0x7F)).isNaN();
        assertThat(Fp8E4M3.toFloat((byte) 0xFF)).isNaN();
        assertThat(Fp8E4M3.toFloat((byte) 0x78)).as("all-ones exponent is still finite").isEqualTo(256f);
        assertThat(Fp8E4M3.toFloat((byte) 0x08)).isEqualTo(0x1p-6f);
        assertThat(Fp8E4M3.toFloat((byte) 0x07)).isEqualTo(7 * 0x1p-9f);
        assertThat(Fp8E4M3.toFloat((byte) 0x38)).isEqualTo(1f);
        assertThat(Float.floatToRawIntBits(Fp8E4M3.toFloat((byte) 0x80))).isEqualTo(0x80000000);
        assertThat(encode(1f, Overflow.SATURATE)).isEqualTo(0x38);
        assertThat(encode(-0.013671875f, Overflow.SATURATE)).isEqualTo(0x87);
        assertThat(encode(0x1.ep-7f, Overflow.SATURATE)).as("7.5 subnormal units, tie to 8 = min normal")
                .isEqualTo(0x08);
    }

    @Test
    void overflowEdgesAtMax() {
        // Max 448 = 1.110b * 2^8; the next step would be 480, the midpoint is 464.
        for (Overflow mode : MODES) {
            int over = mode == Overflow.SATURATE ? 0x7E : 0x7F;
            assertThat(encode(448f, mode)).isEqualTo(0x7E);
            assertThat(encode(Math.nextDown(464f), mode)).isEqualTo(0x7E);
            assertThat(encode(464f, mode)).as("tie to even mantissa 110 = 448: not overflow").isEqualTo(0x7E);
            assertThat(encode(-464f, mode)).isEqualTo(0xFE);
            assertThat(encode(Math.nextUp(464f), mode)).isEqualTo(over);
            assertThat(encode(-Math.nextUp(464f), mode)).isEqualTo(0x80 | over);
            assertThat(encode(480f, mode)).isEqualTo(over);
            assertThat(encode(1e6f, mode)).isEqualTo(over);
            assertThat(encode(Float.POSITIVE_INFINITY, mode)).isEqualTo(over);
            assertThat(encode(Float.NEGATIVE_INFINITY, mode)).isEqualTo(0x80 | over);
            assertThat(encode(Float.NaN, mode)).isEqualTo(0x7F);
            assertThat(encode(Float.intBitsToFloat(0xFFC00000), mode)).isEqualTo(0xFF);
        }
    }
}
