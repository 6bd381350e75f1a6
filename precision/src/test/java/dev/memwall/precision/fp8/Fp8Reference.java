package dev.memwall.precision.fp8;

import java.util.Arrays;

/**
 * An independent double-precision model of the two FP8 formats and of each recipe's arithmetic, written from the
 * definitions (bit layout, bias, largest code) rather than from the core's codecs or the recipe code under test.
 */
final class Fp8Reference {
    static final Fp8Reference E4M3 = new Fp8Reference(3, 7, 0x7E);
    static final Fp8Reference E5M2 = new Fp8Reference(2, 15, 0x7B);

    private final int manBits;
    /** Non-negative values by code magnitude 0..maxCode: increasing, so the index is the code. */
    private final double[] values;

    private Fp8Reference(int manBits, int bias, int maxCode) {
        this.manBits = manBits;
        values = new double[maxCode + 1];
        for (int c = 0; c <= maxCode; c++) {
            int e = c >> manBits, m = c & ((1 << manBits) - 1);
            values[c] = e == 0 ? m * Math.pow(2, 1 - bias - manBits) : (1 + m / Math.pow(2, manBits)) * Math.pow(2, e - bias);
        }
    }

    static Fp8Reference of(Fp8Format f) {
        return f == Fp8Format.E4M3 ? E4M3 : E5M2;
    }

    double max() {
        return values[values.length - 1];
    }

    /** The nearest code, ties to the even code, saturating at ±max; -1 for NaN. */
    int round(double v) {
        if (Double.isNaN(v)) return -1;
        int sign = Double.doubleToRawLongBits(v) < 0 ? 0x80 : 0;
        double a = Math.abs(v);
        if (a >= max()) return sign | (values.length - 1);
        int i = Arrays.binarySearch(values, a);
        if (i >= 0) return sign | i;
        int hi = -i - 1, lo = hi - 1;
        double mid = (values[lo] + values[hi]) / 2; // exact: few significant bits
        int c = a < mid ? lo : a > mid ? hi : (lo % 2 == 0 ? lo : hi);
        return sign | c;
    }

    double value(int code) {
        double v = values[code & 0x7F];
        return (code & 0x80) != 0 ? -v : v;
    }

    int manBits() {
        return manBits;
    }

    /** Signal-to-quantization-noise ratio in dB, in double. */
    static double sqnrDb(float[] x, float[] xq) {
        double s = 0, n = 0;
        for (int i = 0; i < x.length; i++) {
            s += (double) x[i] * x[i];
            double d = (double) x[i] - xq[i];
            n += d * d;
        }
        return 10 * Math.log10(s / n);
    }

    /** Standard normal values with a few outliers, from a fixed seed. */
    static float[] data(long seed, int n, float std) {
        java.util.Random r = new java.util.Random(seed);
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) (r.nextGaussian() * std);
        for (int i = 0; i < n / 500; i++) a[r.nextInt(n)] *= 8; // outliers: what per-tile scaling is for
        return a;
    }
}
