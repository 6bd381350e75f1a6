package dev.memwall.format;

import java.util.Arrays;

/**
 * The 8-bit dynamic quantization maps of Dettmers et al. (2021, "8-bit Optimizers via Block-wise Quantization"), built
 * as bitsandbytes' {@code create_dynamic_map(signed, max_exponent_bits=7, total_bits=8)}: 256 values in [-1, 1]
 * (signed) or [0, 1] (unsigned), sorted. Each code is a decimal exponent and a linear fraction: for exponent
 * i = 0…6, the midpoints of {@code linspace(0.1, 1, k + 1)} times 10^(i − 6), with k = 2^i per sign (signed) or
 * 2^(i+1) (unsigned); plus 0 and 1. Small magnitudes get relative, not absolute, resolution — what optimizer moments,
 * spread over many orders of magnitude within a block, need. The signed map has no −1: its most negative code is
 * −0.993. Values are computed in double and rounded once to float.
 *
 * <p>{@link #nearest} picks the code closest to a value in [-1, 1] (the first, lower one at a tie), what bitsandbytes'
 * reference {@code argmin(|x − code|)} picks.
 */
public final class DynamicMap {
    /** For the first moment (signed values). */
    public static final DynamicMap SIGNED = new DynamicMap(true);
    /** For the second moment (non-negative values): twice the resolution. */
    public static final DynamicMap UNSIGNED = new DynamicMap(false);

    private final float[] values;
    private final int zero;

    private DynamicMap(boolean signed) {
        double[] data = new double[256];
        int n = 0;
        for (int i = 0; i < 7; i++) {
            int items = signed ? 1 << i : 1 << (i + 1);
            double scale = Math.pow(10, i - 6);
            for (int j = 0; j < items; j++) {
                double lo = 0.1 + 0.9 * j / items, hi = 0.1 + 0.9 * (j + 1) / items;
                double mean = (lo + hi) / 2;
                data[n++] = scale * mean;
                if (signed) data[n++] = -scale * mean;
            }
        }
        data[n++] = 0;
        data[n++] = 1;
        if (n != 256) throw new AssertionError("dynamic map has " + n + " values");
        Arrays.sort(data);
        values = new float[256];
        for (int k = 0; k < 256; k++) values[k] = (float) data[k];
        zero = Arrays.binarySearch(values, 0f);
    }

    /** The value of code {@code c} (0…255). */
    public float value(int c) {
        return values[c & 0xFF];
    }

    /** A copy of the 256 values, ascending. */
    public float[] values() {
        return values.clone();
    }

    /** The code of 0. */
    public int zeroCode() {
        return zero;
    }

    /** The code nearest to {@code x} (clamped to the map's range first); at a tie the lower code. NaN gives zero's code. */
    public int nearest(float x) {
        if (!(x > values[0])) return x <= values[0] ? 0 : zero; // below the range, or NaN
        if (x >= values[255]) return 255;
        int lo = 0, hi = 255; // values[lo] < x <= values[hi]
        while (hi - lo > 1) {
            int mid = (lo + hi) >>> 1;
            if (values[mid] < x) lo = mid;
            else hi = mid;
        }
        // Compared in double: the distances themselves are exact there, so a tie is a real tie.
        double dl = (double) x - values[lo], dh = (double) values[hi] - x;
        return dh < dl ? hi : lo;
    }
}
