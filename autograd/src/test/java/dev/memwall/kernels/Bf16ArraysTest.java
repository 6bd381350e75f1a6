package dev.memwall.kernels;

import dev.memwall.format.Bf16;
import dev.memwall.format.Overflow;
import dev.memwall.kernels.blas.Bf16Convert;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.util.Arrays;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The bulk BF16 conversions are {@link Bf16#fromFloat} and {@link Bf16#toFloat} bit for bit, on every path. */
class Bf16ArraysTest {
    private static final int CHUNK = 1 << 20;
    private static final int HALF = 1 << 16;

    /** Where g++ exists at build time (this project's CI and bench machines) the native loops are what runs. */
    @Test
    void nativeConversionIsBuiltAndChosen() {
        Assumptions.assumeTrue(new java.io.File("/usr/bin/g++").exists(), "no g++ at build time: no native library");
        assertThat(Bf16Arrays.missing()).isNull();
        assertThat(Bf16Arrays.path()).isEqualTo(Bf16Arrays.Path.NATIVE);
    }

    /**
     * Every one of the 2^32 float bit patterns, in both overflow modes, against fromFloat. fromFloat depends on the low
     * 16 bits of a float only through which side of the tie 0x8000 they fall (its rounding is
     * {@code (abs + 0x7FFF + lsb) >>> 16}; the NaN test {@code abs > 0x7F800000} is constant over a high half except
     * at 0x7F80/0xFF80, where the low half 0 is infinity and the rest NaN): so each high half is checked against
     * fromFloat at low halves 0, 0x8000 and 0xFFFF, and the two infinity halves element by element. Both native loops:
     * plain x86-64 (what a CPU without AVX-512 runs) and, where the CPU has it, AVX-512.
     */
    @Test
    void nativeEncodeMatchesFromFloatOnEveryFloat() {
        Assumptions.assumeTrue(Bf16Arrays.missing() == null, "native conversion not built");
        float[] src = new float[CHUNK];
        short[] got = new short[CHUNK];
        short[] expected = new short[HALF];
        boolean[] variants = CpuFeatures.avx512f() ? new boolean[]{false, true} : new boolean[]{false};
        for (long base = 0; base < 1L << 32; base += CHUNK) {
            for (int i = 0; i < CHUNK; i++) src[i] = Float.intBitsToFloat((int) (base + i));
            for (int v = 0; v < variants.length; v++) for (Overflow mode : Overflow.values()) {
                Bf16Convert.memwall_bf16_encode(src, 0, got, 0, CHUNK, mode == Overflow.SATURATE, variants[v]);
                for (int h = 0; h < CHUNK; h += HALF) {
                    int high = (int) ((base + h) >>> 16);
                    expectedHalf(high, mode, expected);
                    int at = Arrays.mismatch(got, h, h + HALF, expected, 0, HALF);
                    if (at >= 0) {
                        int bits = (high << 16) | at;
                        assertThat(Integer.toHexString(got[h + at] & 0xFFFF)).as("float bits %08x, %s, avx512 %s", bits, mode, variants[v])
                                .isEqualTo(Integer.toHexString(Bf16.fromFloat(Float.intBitsToFloat(bits), mode) & 0xFFFF));
                    }
                }
            }
        }
    }

    private static void expectedHalf(int high, Overflow mode, short[] out) {
        if ((high & 0x7FFF) == 0x7F80) {
            for (int low = 0; low < HALF; low++) out[low] = Bf16.fromFloat(Float.intBitsToFloat((high << 16) | low), mode);
            return;
        }
        Arrays.fill(out, 0, 0x8000, Bf16.fromFloat(Float.intBitsToFloat(high << 16), mode));
        out[0x8000] = Bf16.fromFloat(Float.intBitsToFloat((high << 16) | 0x8000), mode);
        Arrays.fill(out, 0x8001, HALF, Bf16.fromFloat(Float.intBitsToFloat((high << 16) | 0xFFFF), mode));
    }

    @Test
    void decodeIsExactOnEveryCodeOnEveryPath() {
        short[] codes = new short[HALF];
        for (int c = 0; c < HALF; c++) codes[c] = (short) c;
        for (Bf16Arrays.Path path : paths()) {
            float[] out = new float[HALF];
            Bf16Arrays.decode(path, codes, 0, out, 0, HALF);
            for (int c = 0; c < HALF; c++) {
                if (Float.floatToRawIntBits(out[c]) != c << 16) {
                    assertThat(Integer.toHexString(Float.floatToRawIntBits(out[c]))).as("%s code %04x", path, c)
                            .isEqualTo(Integer.toHexString(c << 16));
                }
            }
        }
    }

    /** Offsets, lengths around the native threshold and the parallel split, and nothing outside the range is written. */
    @Test
    void rangesWithOffsetsOnEveryPath() {
        java.util.Random r = new java.util.Random(7);
        for (Bf16Arrays.Path path : paths()) {
            for (int n : new int[]{0, 1, Bf16Arrays.NATIVE_MIN - 1, Bf16Arrays.NATIVE_MIN, 70_001}) {
                float[] src = new float[n + 5];
                for (int i = 0; i < src.length; i++) src[i] = Float.intBitsToFloat(r.nextInt());
                short[] dst = new short[n + 9];
                Arrays.fill(dst, (short) 0x1234);
                Bf16Arrays.encode(path, src, 3, dst, 4, n, Overflow.SATURATE);
                for (int i = 0; i < dst.length; i++) {
                    short want = i >= 4 && i < 4 + n ? Bf16.fromFloat(src[i - 1], Overflow.SATURATE) : (short) 0x1234;
                    assertThat(dst[i]).as("%s n=%d at %d", path, n, i).isEqualTo(want);
                }
                float[] back = new float[n + 6];
                Arrays.fill(back, -7f);
                Bf16Arrays.decode(path, dst, 4, back, 2, n);
                for (int i = 0; i < back.length; i++) {
                    float want = i >= 2 && i < 2 + n ? Bf16.toFloat(dst[i + 2]) : -7f;
                    assertThat(Float.floatToRawIntBits(back[i])).as("%s n=%d at %d", path, n, i).isEqualTo(Float.floatToRawIntBits(want));
                }
            }
        }
    }

    @Test
    void badRangesAndSettingsAreRefusedWithReasons() {
        assertThatThrownBy(() -> Bf16Arrays.encode(new float[4], 2, new short[4], 0, 3, Overflow.SATURATE))
                .isInstanceOf(IndexOutOfBoundsException.class);
        assertThatThrownBy(() -> Bf16Arrays.decode(new short[4], 0, new float[2], 0, 3))
                .isInstanceOf(IndexOutOfBoundsException.class);
        assertThatThrownBy(() -> Bf16Arrays.choose("fast", null)).hasMessageContaining("must be native or java, got 'fast'");
        assertThatThrownBy(() -> Bf16Arrays.choose("native", "no library")).hasMessageContaining("no library");
        assertThat(Bf16Arrays.choose(null, "no library")).isEqualTo(Bf16Arrays.Path.JAVA);
        assertThat(Bf16Arrays.choose(" Java ", null)).isEqualTo(Bf16Arrays.Path.JAVA);
        assertThat(Bf16Arrays.choose(null, null)).isEqualTo(Bf16Arrays.Path.NATIVE);
    }

    private static java.util.List<Bf16Arrays.Path> paths() {
        return Bf16Arrays.missing() == null ? java.util.List.of(Bf16Arrays.Path.values()) : java.util.List.of(Bf16Arrays.Path.JAVA);
    }
}
