package dev.memwall.format;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * Format-independent conversion contract, checked against {@link ReferenceFormat}. Each concrete
 * test class binds it to one format and adds that format's hand-derived edge cases.
 */
abstract class FormatContract {
    static final Overflow[] MODES = Overflow.values();
    private static final int MAX_REPORTED = 20;

    abstract ReferenceFormat ref();

    abstract float decode(int bits);

    /** Unsigned bit pattern produced by the scalar encoder. */
    abstract int encode(float f, Overflow mode);

    /** Runs the bulk encoder into a fresh array of {@code dstLen} codes pre-filled with {@code fill}. */
    abstract int[] encodeBulk(float[] src, int srcOff, int dstLen, int dstOff, int n, Overflow mode, int fill);

    /** Runs the bulk decoder into a fresh array of {@code dstLen} floats pre-filled with {@code fill}. */
    abstract float[] decodeBulk(int[] src, int srcOff, int dstLen, int dstOff, int n, float fill);

    abstract float max();

    abstract float minNormal();

    abstract float minSubnormal();

    /** Collects mismatches so that a failure lists the first few offending inputs at once. */
    static final class Mismatches {
        final List<String> first = new ArrayList<>();
        long count;

        void add(String msg) {
            if (count++ < MAX_REPORTED) {
                first.add(msg);
            }
        }

        void assertNone(String what) {
            assertThat(first).as("%s: %d mismatches, first ones", what, count).isEmpty();
        }
    }

    /** Encodes {@code x} in {@code mode} and records a mismatch against {@code expected} (or ANY_NAN). */
    void check(Mismatches mm, float x, Overflow mode, int expected, String why) {
        int got = encode(x, mode);
        boolean ok = expected == ReferenceFormat.ANY_NAN ? ref().isNaN(got) : got == expected;
        if (!ok) {
            mm.add(String.format("%s %s(%s = 0x%08X): got %s, want %s", why, mode, x,
                    Float.floatToRawIntBits(x), ref().hex(got),
                    expected == ReferenceFormat.ANY_NAN ? "NaN" : ref().hex(expected)));
        }
    }

    void checkOracle(Mismatches mm, float x, String why) {
        for (Overflow mode : MODES) {
            check(mm, x, mode, ref().nearest(x, mode), why);
        }
    }

    @Test
    void constantsMatchTheFormatDefinition() {
        ReferenceFormat r = ref();
        assertThat((double) max()).isEqualTo(r.max);
        assertThat((double) minNormal()).isEqualTo(r.minNormal());
        assertThat((double) minSubnormal()).isEqualTo(r.minSubnormal());
    }

    @Test
    void decodeOfEveryBitPatternMatchesReferenceDecoder() {
        ReferenceFormat r = ref();
        Mismatches mm = new Mismatches();
        for (int bits = 0; bits < r.patterns; bits++) {
            double want = r.decode(bits);
            float got = decode(bits);
            if (Double.isNaN(want)) {
                if (!Float.isNaN(got)) {
                    mm.add(r.hex(bits) + " -> " + got + ", want NaN");
                }
            } else if ((double) (float) want != want) {
                mm.add(r.hex(bits) + ": reference value " + want + " not representable in FP32");
            } else if (Float.floatToRawIntBits(got) != Float.floatToRawIntBits((float) want)) {
                mm.add(r.hex(bits) + " -> " + got + ", want " + want); // raw bits also check -0.0
            }
        }
        mm.assertNone(r.name + " decode");
    }

    @Test
    void reencodingEveryDecodedBitPatternGivesItBack() {
        ReferenceFormat r = ref();
        Mismatches mm = new Mismatches();
        for (int bits = 0; bits < r.patterns; bits++) {
            float f = decode(bits);
            for (Overflow mode : MODES) {
                int want = bits;
                if (r.isNaN(bits)) {
                    want = ReferenceFormat.ANY_NAN;
                } else if (r.isInfinite(bits) && mode == Overflow.SATURATE) {
                    want = (bits & r.signBit) | r.maxCode; // the one documented exception
                }
                check(mm, f, mode, want, "round trip"); // the message shows f and its bits
            }
        }
        mm.assertNone(r.name + " round trip");
    }

    /** Every pair of adjacent non-negative values, the last pair being (max, hypothetical next). */
    private double[][] adjacentPairs() {
        ReferenceFormat r = ref();
        double[][] pairs = new double[r.values.length][];
        for (int i = 0; i + 1 < r.values.length; i++) {
            pairs[i] = new double[] {r.values[i], r.values[i + 1], r.codes[i], r.codes[i + 1]};
        }
        pairs[r.values.length - 1] = new double[] {r.max, r.beyondMax, r.maxCode, r.beyondMaxCode};
        return pairs;
    }

    @Test
    void midpointsTieToEvenAndOneUlpAwayRoundToTheNearerSide() {
        ReferenceFormat r = ref();
        Mismatches mm = new Mismatches();
        int ties = 0;
        for (double[] p : adjacentPairs()) {
            double mid = (p[0] + p[1]) / 2;
            assertThat((double) (float) mid).as("midpoint %s exact in FP32", mid).isEqualTo(mid);
            int loCode = (int) p[2];
            int hiCode = (int) p[3];
            boolean hiOverflows = p[1] == r.beyondMax;
            for (int sign : new int[] {0, r.signBit}) {
                float m = sign == 0 ? (float) mid : -(float) mid;
                float towardZero = sign == 0 ? Math.nextDown(m) : Math.nextUp(m);
                float awayFromZero = sign == 0 ? Math.nextUp(m) : Math.nextDown(m);
                for (Overflow mode : MODES) {
                    int lo = sign | loCode;
                    int hi = hiOverflows ? r.overflowResult(sign, mode) : sign | hiCode;
                    check(mm, m, mode, (loCode & 1) == 0 ? lo : hi, "tie");
                    check(mm, towardZero, mode, lo, "below tie");
                    check(mm, awayFromZero, mode, hi, "above tie");
                }
                checkOracle(mm, m, "oracle tie");
                checkOracle(mm, towardZero, "oracle below tie");
                checkOracle(mm, awayFromZero, "oracle above tie");
                ties++;
            }
        }
        assertThat(ties).isEqualTo(2 * r.values.length);
        mm.assertNone(r.name + " midpoints");
    }

    @Test
    void valuesOneUlpInsideEachRepresentableValueRoundToIt() {
        ReferenceFormat r = ref();
        Mismatches mm = new Mismatches();
        for (int i = 0; i < r.values.length; i++) {
            for (int sign : new int[] {0, r.signBit}) {
                float v = sign == 0 ? (float) r.values[i] : -(float) r.values[i];
                int want = sign | r.codes[i];
                // Next to zero the neighbours are the tiniest floats of either sign; they round
                // to the zero of their own sign.
                int wantUp = v == 0 ? 0 : want;
                int wantDown = v == 0 ? r.signBit : want;
                for (Overflow mode : MODES) {
                    check(mm, v, mode, want, "exact");
                    check(mm, Math.nextUp(v), mode, wantUp, "1 ulp up from exact");
                    check(mm, Math.nextDown(v), mode, wantDown, "1 ulp down from exact");
                }
            }
        }
        mm.assertNone(r.name + " one ulp inside");
    }

    @Test
    void halfOfSmallestSubnormalTiesToZeroAndAnythingAboveRoundsUp() {
        ReferenceFormat r = ref();
        float half = minSubnormal() / 2;
        for (Overflow mode : MODES) {
            assertThat(encode(half, mode)).isEqualTo(0);
            assertThat(encode(-half, mode)).isEqualTo(r.signBit);
            assertThat(encode(Math.nextUp(half), mode)).isEqualTo(1);
            assertThat(encode(-Math.nextUp(half), mode)).isEqualTo(r.signBit | 1);
            assertThat(encode(Math.nextDown(half), mode)).isEqualTo(0);
            assertThat(encode(Float.MIN_VALUE, mode)).isEqualTo(0);
            assertThat(encode(-Float.MIN_VALUE, mode)).isEqualTo(r.signBit);
            assertThat(encode(0f, mode)).isEqualTo(0);
            assertThat(encode(-0f, mode)).isEqualTo(r.signBit);
        }
    }

    @Test
    void overflowEdgesFollowTheMode() {
        ReferenceFormat r = ref();
        float max = max();
        float threshold = (float) ((r.max + r.beyondMax) / 2);
        boolean tieOverflows = (r.beyondMaxCode & 1) == 0;
        for (int sign : new int[] {0, r.signBit}) {
            float s = sign == 0 ? 1f : -1f;
            for (Overflow mode : MODES) {
                int over = r.overflowResult(sign, mode);
                assertThat(encode(s * max, mode)).isEqualTo(sign | r.maxCode);
                assertThat(encode(s * Math.nextDown(threshold), mode)).isEqualTo(sign | r.maxCode);
                assertThat(encode(s * threshold, mode)).isEqualTo(tieOverflows ? over : sign | r.maxCode);
                assertThat(encode(s * Math.nextUp(threshold), mode)).isEqualTo(over);
                assertThat(encode(s * (float) r.beyondMax, mode)).isEqualTo(over);
                assertThat(encode(s * Float.MAX_VALUE, mode)).isEqualTo(over);
                assertThat(encode(s * Float.POSITIVE_INFINITY, mode)).isEqualTo(over);
            }
        }
        for (Overflow mode : MODES) {
            assertThat(encode(Float.NEGATIVE_INFINITY, mode)).isEqualTo(encode(-Float.MAX_VALUE, mode));
        }
    }

    @Test
    void nanInputAlwaysGivesNaNRegardlessOfMode() {
        int[] nans = {0x7FC00000, 0xFFC00000, 0x7F800001, 0xFF800001, 0x7FFFFFFF, 0xFFFFFFFF, 0x7FA00000};
        for (int raw : nans) {
            for (Overflow mode : MODES) {
                int got = encode(Float.intBitsToFloat(raw), mode);
                assertThat(ref().isNaN(got)).as("%s of 0x%08X -> %s", mode, raw, ref().hex(got)).isTrue();
            }
        }
    }

    /** Floats spread over the whole FP32 range and, more densely, over the format's own range. */
    static float[] randomFloats(int n, long seed, ReferenceFormat r) {
        SplittableRandom rnd = new SplittableRandom(seed);
        int lowExp = Math.max(1, 127 + (1 - r.bias - r.manBits) - 3);
        int highExp = Math.min(254, 127 + (int) Math.ceil(Math.log(r.beyondMax) / Math.log(2)) + 2);
        float[] out = new float[n];
        for (int i = 0; i < n; i++) {
            int bits;
            if ((i & 1) == 0) {
                bits = rnd.nextInt(); // any pattern, NaNs and infinities included
            } else {
                int exp = rnd.nextInt(lowExp, highExp + 1);
                bits = (rnd.nextInt() & 0x807FFFFF) | (exp << 23);
            }
            out[i] = Float.intBitsToFloat(bits);
        }
        return out;
    }

    @Test
    void randomFloatsMatchTheEnumerationOracle() {
        ReferenceFormat r = ref();
        Mismatches mm = new Mismatches();
        for (float x : randomFloats(200_000, 0x5EEDL, r)) {
            checkOracle(mm, x, "random");
        }
        mm.assertNone(r.name + " random vs oracle");
    }

    @Test
    void bulkEncodeAgreesWithScalarAndTouchesOnlyItsRange() {
        ReferenceFormat r = ref();
        float[] src = randomFloats(4099, 42L, r);
        int srcOff = 3;
        int dstOff = 5;
        int n = src.length - srcOff - 2;
        int fill = r.signBit | 1;
        for (Overflow mode : MODES) {
            int[] got = encodeBulk(src, srcOff, n + dstOff + 7, dstOff, n, mode, fill);
            int[] want = new int[got.length];
            Arrays.fill(want, fill);
            for (int i = 0; i < n; i++) {
                want[dstOff + i] = encode(src[srcOff + i], mode);
            }
            assertThat(got).isEqualTo(want);
        }
    }

    @Test
    void bulkDecodeAgreesWithScalarAndTouchesOnlyItsRange() {
        ReferenceFormat r = ref();
        int[] src = new int[r.patterns + 4];
        for (int i = 0; i < src.length; i++) {
            src[i] = (i - 2) & (r.patterns - 1);
        }
        int dstOff = 6;
        float[] got = decodeBulk(src, 2, r.patterns + 9, dstOff, r.patterns, -7f);
        float[] want = new float[got.length];
        Arrays.fill(want, -7f);
        for (int bits = 0; bits < r.patterns; bits++) {
            want[dstOff + bits] = decode(bits);
        }
        int[] gotBits = new int[got.length];
        int[] wantBits = new int[got.length];
        for (int i = 0; i < got.length; i++) {
            gotBits[i] = Float.floatToRawIntBits(got[i]);
            wantBits[i] = Float.floatToRawIntBits(want[i]);
        }
        assertThat(gotBits).isEqualTo(wantBits);
    }

    @Test
    void bulkFormsRejectBadRangesAndNullMode() {
        float[] src = new float[8];
        int[] codes = new int[8];
        assertThatThrownBy(() -> encodeBulk(src, 4, 8, 0, 5, Overflow.SATURATE, 0))
                .isInstanceOf(IndexOutOfBoundsException.class);
        assertThatThrownBy(() -> encodeBulk(src, 0, 8, 4, 5, Overflow.SATURATE, 0))
                .isInstanceOf(IndexOutOfBoundsException.class);
        assertThatThrownBy(() -> encodeBulk(src, -1, 8, 0, 1, Overflow.SATURATE, 0))
                .isInstanceOf(IndexOutOfBoundsException.class);
        assertThatThrownBy(() -> encodeBulk(src, 0, 8, 0, 1, null, 0))
                .isInstanceOf(NullPointerException.class);
        assertThatThrownBy(() -> decodeBulk(codes, 4, 8, 0, 5, 0f))
                .isInstanceOf(IndexOutOfBoundsException.class);
        assertThatThrownBy(() -> decodeBulk(codes, 0, 8, 4, 5, 0f))
                .isInstanceOf(IndexOutOfBoundsException.class);
        assertThatThrownBy(() -> decodeBulk(codes, 0, 8, 0, -1, 0f))
                .isInstanceOf(IndexOutOfBoundsException.class);
        assertThat(encodeBulk(src, 8, 8, 8, 0, Overflow.SATURATE, 3)).containsOnly(3);
    }
}
