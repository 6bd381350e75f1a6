package dev.memwall.format;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Independent model of a narrow binary floating-point format, written from the format
 * definition with double arithmetic and plain enumeration — deliberately sharing no code or bit
 * tricks with the production classes.
 */
final class ReferenceFormat {
    /** Marker returned by {@link #nearest} when any NaN encoding is acceptable. */
    static final int ANY_NAN = -1;

    final String name;
    final int expBits;
    final int manBits;
    final int bias;
    /** IEEE-style specials (exponent all ones = inf/NaN); false = OCP E4M3 style (only S.1..1.1..1 is NaN). */
    final boolean ieeeSpecials;
    final int width;
    final int signBit;
    final int patterns;

    /** Every finite non-negative value of the format, ascending, and its bit pattern. */
    final double[] values;
    final int[] codes;
    final double max;
    final int maxCode;
    /** The step the format would take after {@link #max} if it had one more finite code. */
    final double beyondMax;
    final int beyondMaxCode;
    /** Code of +infinity, or -1 if the format has none. */
    final int infCode;
    /** The only positive NaN code for E4M3-style formats; unused otherwise. */
    final int nanCode;

    ReferenceFormat(String name, int expBits, int manBits, int bias, boolean ieeeSpecials) {
        this.name = name;
        this.expBits = expBits;
        this.manBits = manBits;
        this.bias = bias;
        this.ieeeSpecials = ieeeSpecials;
        this.width = 1 + expBits + manBits;
        this.signBit = 1 << (expBits + manBits);
        this.patterns = 1 << width;
        this.nanCode = signBit - 1;

        List<double[]> finite = new ArrayList<>();
        int inf = -1;
        for (int code = 0; code < signBit; code++) {
            double v = decode(code);
            if (Double.isInfinite(v)) {
                inf = code;
            } else if (!Double.isNaN(v)) {
                finite.add(new double[] {v, code});
            }
        }
        finite.sort((a, b) -> Double.compare(a[0], b[0]));
        values = new double[finite.size()];
        codes = new int[finite.size()];
        for (int i = 0; i < values.length; i++) {
            values[i] = finite.get(i)[0];
            codes[i] = (int) finite.get(i)[1];
        }
        infCode = inf;
        int last = values.length - 1;
        max = values[last];
        maxCode = codes[last];
        // Max and its predecessor share the top binade in every format here, so the
        // hypothetical next step continues that spacing, and its code would follow maxCode.
        beyondMax = max + (max - values[last - 1]);
        beyondMaxCode = maxCode + 1;
    }

    /** Value of a bit pattern straight from the definition: (-1)^s · 2^(e-bias) · (1 + m/2^M). */
    double decode(int bits) {
        int s = (bits >>> (expBits + manBits)) & 1;
        int e = (bits >>> manBits) & ((1 << expBits) - 1);
        int m = bits & ((1 << manBits) - 1);
        double sign = s == 1 ? -1.0 : 1.0;
        int eMax = (1 << expBits) - 1;
        if (ieeeSpecials && e == eMax) {
            return m == 0 ? sign * Double.POSITIVE_INFINITY : Double.NaN;
        }
        if (!ieeeSpecials && e == eMax && m == (1 << manBits) - 1) {
            return Double.NaN;
        }
        double frac = m / Math.pow(2, manBits);
        if (e == 0) {
            return sign * Math.pow(2, 1 - bias) * frac;
        }
        return sign * Math.pow(2, e - bias) * (1 + frac);
    }

    boolean isNaN(int bits) {
        return Double.isNaN(decode(bits));
    }

    boolean isInfinite(int bits) {
        return Double.isInfinite(decode(bits));
    }

    double minSubnormal() {
        return values[1];
    }

    double minNormal() {
        return decode(1 << manBits);
    }

    /** The result a correct conversion must give on overflow, for the given sign bit. */
    int overflowResult(int sign, Overflow mode) {
        if (mode == Overflow.SATURATE) {
            return sign | maxCode;
        }
        return sign | (ieeeSpecials ? infCode : nanCode);
    }

    /**
     * Oracle: nearest representable value by binary search over the enumerated values; exact
     * ties go to the neighbour whose mantissa (hence code) is even; a result beyond max is
     * overflow. Returns unsigned bits, or {@link #ANY_NAN}.
     */
    int nearest(float x, Overflow mode) {
        if (Float.isNaN(x)) {
            return ANY_NAN;
        }
        int sign = Float.floatToRawIntBits(x) < 0 ? signBit : 0;
        double a = Math.abs((double) x);
        if (a > beyondMax) {
            return overflowResult(sign, mode);
        }
        int i = Arrays.binarySearch(values, a);
        if (i >= 0) {
            return sign | codes[i];
        }
        int lo = -i - 2; // index of the largest value below a
        double loV = values[lo];
        boolean hiIsBeyond = lo == values.length - 1;
        double hiV = hiIsBeyond ? beyondMax : values[lo + 1];
        int hiCode = hiIsBeyond ? beyondMaxCode : codes[lo + 1];
        double mid = (loV + hiV) / 2; // exact: both have few significant bits
        boolean up = a > mid || (a == mid && (hiCode & 1) == 0);
        if (!up) {
            return sign | codes[lo];
        }
        return hiIsBeyond ? overflowResult(sign, mode) : sign | hiCode;
    }

    String hex(int bits) {
        return String.format("0x%0" + ((width + 3) / 4) + "X", bits);
    }
}
