package dev.memwall.format;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Arrays;
import org.junit.jupiter.api.Test;

class Bf16Test extends FormatContract {
    private static final ReferenceFormat REF = new ReferenceFormat("BF16", 8, 7, 127, true);

    @Override
    ReferenceFormat ref() {
        return REF;
    }

    @Override
    float decode(int bits) {
        return Bf16.toFloat((short) bits);
    }

    @Override
    int encode(float f, Overflow mode) {
        return Bf16.fromFloat(f, mode) & 0xFFFF;
    }

    @Override
    int[] encodeBulk(float[] src, int srcOff, int dstLen, int dstOff, int n, Overflow mode, int fill) {
        short[] dst = new short[dstLen];
        Arrays.fill(dst, (short) fill);
        Bf16.encode(src, srcOff, dst, dstOff, n, mode);
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
        Bf16.decode(s, srcOff, dst, dstOff, n);
        return dst;
    }

    @Override
    float max() {
        return Bf16.MAX;
    }

    @Override
    float minNormal() {
        return Bf16.MIN_NORMAL;
    }

    @Override
    float minSubnormal() {
        return Bf16.MIN_SUBNORMAL;
    }

    private int enc(int floatBits) {
        return encode(Float.intBitsToFloat(floatBits), Overflow.NON_SATURATE);
    }

    @Test
    void roundsTheDroppedHalfToNearestEven() {
        assertThat(encode(1f, Overflow.NON_SATURATE)).isEqualTo(0x3F80);
        assertThat(enc(0x40490FDB)).as("pi").isEqualTo(0x4049);
        assertThat(enc(0x3F807FFF)).isEqualTo(0x3F80);
        assertThat(enc(0x3F808000)).as("tie, even stays").isEqualTo(0x3F80);
        assertThat(enc(0x3F808001)).isEqualTo(0x3F81);
        assertThat(enc(0x3F818000)).as("tie, odd rounds up").isEqualTo(0x3F82);
        assertThat(enc(0x3FFF8000)).as("carry into the next binade").isEqualTo(0x4000);
        assertThat(enc(0x007F8000)).as("max subnormal tie carries into min normal").isEqualTo(0x0080);
        assertThat(enc(0x00008000)).as("half of min subnormal").isEqualTo(0x0000);
        assertThat(enc(0x00018000)).as("1.5 min subnormal, odd, rounds up").isEqualTo(0x0002);
        assertThat(enc(0x80008001)).isEqualTo(0x8001);
    }

    @Test
    void overflowEdgesAtMax() {
        for (Overflow mode : MODES) {
            int over = mode == Overflow.SATURATE ? 0x7F7F : 0x7F80;
            assertThat(encode(Bf16.MAX, mode)).isEqualTo(0x7F7F);
            assertThat(encode(Float.intBitsToFloat(0x7F7F7FFF), mode)).isEqualTo(0x7F7F);
            assertThat(encode(Float.intBitsToFloat(0x7F7F8000), mode)).as("tie; 0x7F7F is odd").isEqualTo(over);
            assertThat(encode(Float.intBitsToFloat(0xFF7F8000), mode)).isEqualTo(0x8000 | over);
            assertThat(encode(Float.MAX_VALUE, mode)).isEqualTo(over);
            assertThat(encode(Float.POSITIVE_INFINITY, mode)).isEqualTo(over);
            assertThat(encode(Float.NEGATIVE_INFINITY, mode)).isEqualTo(0x8000 | over);
        }
    }

    @Test
    void nanNeverTruncatesToInfinityAndComesOutQuiet() {
        for (Overflow mode : MODES) {
            // Naive truncation of these signalling NaNs would give 0x7F80 / 0xFF80 = infinity.
            assertThat(encode(Float.intBitsToFloat(0x7F800001), mode)).isEqualTo(0x7FC0);
            assertThat(encode(Float.intBitsToFloat(0xFF80FFFF), mode)).isEqualTo(0xFFC0);
            assertThat(encode(Float.intBitsToFloat(0x7FFFFFFF), mode)).isEqualTo(0x7FC0);
            assertThat(encode(Float.NaN, mode)).isEqualTo(0x7FC0);
        }
    }

    @Test
    void decodeIsTheUpperHalfOfAFloat() {
        for (int bits = 0; bits < 0x10000; bits++) {
            int got = Float.floatToRawIntBits(Bf16.toFloat((short) bits));
            if (got != bits << 16) {
                assertThat(Integer.toHexString(got)).isEqualTo(Integer.toHexString(bits << 16));
            }
        }
    }
}
