package dev.memwall.format;

import dev.memwall.rng.Rng;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

/** The dynamic maps' construction, and block-wise quantization against a double-precision reference. */
class Blockwise8Test {
    @Test
    void mapsAreTheDynamicMapsOfBitsandbytes() {
        float[] s = DynamicMap.SIGNED.values(), u = DynamicMap.UNSIGNED.values();
        assertThat(s).hasSize(256);
        for (int i = 1; i < 256; i++) {
            assertThat(s[i]).isGreaterThan(s[i - 1]);
            assertThat(u[i]).isGreaterThan(u[i - 1]);
        }
        assertThat(s[255]).isEqualTo(1f);
        assertThat(u[255]).isEqualTo(1f);
        assertThat(u[0]).isEqualTo(0f);
        assertThat((double) s[0]).isCloseTo(-(0.1 + 0.9 * (63 + 0.5) / 64), within(1e-7)); // midpoint of the last interval
        assertThat(s[DynamicMap.SIGNED.zeroCode()]).isEqualTo(0f);
        // the smallest non-zero magnitudes: 10^-6 · 0.55 (signed: one fraction at the lowest exponent)
        assertThat((double) s[DynamicMap.SIGNED.zeroCode() + 1]).isCloseTo(0.55e-6, within(1e-12));
        assertThat((double) u[1]).isCloseTo(1e-6 * (0.1 + 0.9 * 0.25), within(1e-12));
        // 127 codes per sign plus 0 and 1; the unsigned map has twice the fractions per exponent
        int positive = 0;
        for (float v : s) if (v > 0) positive++;
        assertThat(positive).isEqualTo(128);
    }

    /** Nearest code of value / absmax, computed in double over the whole map (the first at a tie). */
    private static int reference(double x, float[] map) {
        int best = 0;
        double err = Double.MAX_VALUE;
        for (int c = 0; c < 256; c++) {
            double e = Math.abs(x - map[c]);
            if (e < err) {
                err = e;
                best = c;
            }
        }
        return best;
    }

    @Test
    void quantizeAndDequantizeMatchADoubleReference() {
        int n = 5 * Blockwise8.BLOCK + 77; // a short tail block
        float[] x = new float[n];
        Rng r = new Rng(3);
        r.fillNormal(x, 0, n, 1f);
        for (int i = 0; i < n; i++) x[i] = (float) (x[i] * Math.pow(10, -4 * r.nextFloat()));
        for (int i = 2 * Blockwise8.BLOCK; i < 3 * Blockwise8.BLOCK; i++) x[i] = 0f; // a block of zeros
        for (DynamicMap map : new DynamicMap[]{DynamicMap.SIGNED, DynamicMap.UNSIGNED}) {
            float[] v = x.clone();
            if (map == DynamicMap.UNSIGNED) for (int i = 0; i < n; i++) v[i] = v[i] * v[i];
            byte[] codes = new byte[n];
            float[] absmax = new float[Blockwise8.blocks(n)];
            Blockwise8.quantize(v, 0, n, map, codes, 0, absmax, 0);
            float[] back = new float[n];
            Blockwise8.dequantize(codes, 0, n, absmax, 0, map, back, 0);
            float[] m = map.values();
            int mismatches = 0;
            for (int b = 0; b < absmax.length; b++) {
                int from = b * Blockwise8.BLOCK, to = Math.min(n, from + Blockwise8.BLOCK);
                double amax = 0;
                for (int i = from; i < to; i++) amax = Math.max(amax, Math.abs((double) v[i]));
                assertThat((double) absmax[b]).isEqualTo(amax);
                for (int i = from; i < to; i++) {
                    int want = amax == 0 ? map.zeroCode() : reference(v[i] / amax, m);
                    int got = codes[i] & 0xFF;
                    if (got != want) {
                        // only where float division moved x across a midpoint by its last bit
                        double mid = (m[got] + (double) m[want]) / 2;
                        assertThat(Math.abs(v[i] / amax - mid)).as("element %d", i).isLessThan(1e-6);
                        mismatches++;
                    }
                    assertThat((double) back[i]).isCloseTo(m[got] * amax, within((double) Math.ulp((float) (m[got] * amax))));
                }
            }
            assertThat(mismatches).isLessThanOrEqualTo(2);
            // the largest magnitude of a block is exact when positive (the maps hold 1)
            for (int b = 0; b < absmax.length; b++) {
                int from = b * Blockwise8.BLOCK, to = Math.min(n, from + Blockwise8.BLOCK);
                for (int i = from; i < to; i++) if (v[i] == absmax[b] && v[i] > 0) assertThat(back[i]).isEqualTo(v[i]);
            }
        }
    }

    @Test
    void nearestHandlesTheEdges() {
        DynamicMap s = DynamicMap.SIGNED;
        assertThat(s.nearest(2f)).isEqualTo(255);
        assertThat(s.nearest(-2f)).isEqualTo(0);
        assertThat(s.nearest(Float.NaN)).isEqualTo(s.zeroCode());
        assertThat(s.nearest(0f)).isEqualTo(s.zeroCode());
        assertThat(s.nearest(-1f)).isEqualTo(0);
        for (int c = 0; c < 256; c++) assertThat(s.nearest(s.value(c))).isEqualTo(c);
    }
}
