package dev.memwall.precision.fp8;

import dev.memwall.autograd.Tensor;

/**
 * The kernels that apply a recipe: amax, and quantization of an FP32 tensor per tensor or per tile. Every element is
 * {@code fp8(x · m)} rounded once, to nearest with ties to even, from the exact product, and saturating: out-of-range
 * values and infinities become ±max, NaN stays NaN. (The product of two floats is exact in double; rounding it to
 * float with round-to-odd keeps enough bits that the core's float → FP8 rounding then equals a direct rounding.)
 */
public final class Fp8Quantizer {
    private Fp8Quantizer() {
    }

    /** max |x| over {@code n} elements; NaN if any element is NaN. */
    public static float amax(float[] a, int off, int n) {
        float m = 0;
        boolean nan = false;
        for (int k = off; k < off + n; k++) {
            float v = Math.abs(a[k]);
            if (v > m) m = v;
            else if (v != v) nan = true;
        }
        return nan ? Float.NaN : m;
    }

    public static float amax(Tensor x) {
        return amax(x.data(), x.offset(), x.numel());
    }

    /** Quantizes {@code x} with one given scale (delayed scaling). */
    public static Fp8Tensor perTensor(Tensor x, Fp8Format f, float scale) {
        Fp8Tensor q = Fp8Tensor.allocate(f, false, Tiling.PER_TENSOR, "fp8_quantize", x.shape());
        q.scales().data()[q.scales().offset()] = scale;
        encode(x.data(), x.offset(), q.codes().byteData(), q.codes().offset(), x.numel(), scale, f);
        return q;
    }

    /** Quantizes {@code x} with a scale per tile of {@code tiling}, each from its tile's amax by {@code rule}. */
    public static Fp8Tensor tiled(Tensor x, Fp8Format f, Tiling tiling, ScaleRule rule) {
        boolean e8m0 = rule == ScaleRule.E8M0_UP;
        Fp8Tensor q = Fp8Tensor.allocate(f, e8m0, tiling, "fp8_quantize", x.shape());
        float[] src = x.data();
        int so = x.offset();
        byte[] dst = q.codes().byteData();
        int dOff = q.codes().offset();
        int rows = q.rows(), cols = q.cols();
        int down = tiling.tilesDown(rows), across = tiling.tilesAcross(cols);
        int tc = (int) Math.min(tiling.tileCols(), Math.max(1, cols));
        float[] amax = new float[across];
        double[] m = new double[across];
        for (int i = 0; i < down; i++) {
            // One band of tile rows: the amax of each tile across the band, its scale, then the band's elements.
            int r0 = i * tiling.tileRows(), r1 = (int) Math.min(rows, (long) r0 + tiling.tileRows());
            java.util.Arrays.fill(amax, 0f);
            for (int r = r0; r < r1; r++) {
                int row = so + r * cols;
                for (int j = 0; j < across; j++) {
                    int c0 = j * tc, c1 = Math.min(cols, c0 + tc);
                    float a = amax[j];
                    if (a != a) continue; // NaN already
                    for (int c = c0; c < c1; c++) {
                        float v = Math.abs(src[row + c]);
                        if (!(v <= a)) a = v == v ? v : Float.NaN; // NaN sticks: NaN <= a and v <= NaN are both false
                        if (a != a) break;
                    }
                    amax[j] = a;
                }
            }
            for (int j = 0; j < across; j++) {
                int k = i * across + j;
                switch (rule) {
                    case CURRENT -> m[j] = q.scales().data()[q.scales().offset() + k] = ScaleMath.current(amax[j], f.max);
                    case POWER_OF_TWO_DOWN -> m[j] = q.scales().data()[q.scales().offset() + k] = ScaleMath.powerOfTwoDown(amax[j], f.max);
                    default -> {
                        byte code = ScaleMath.e8m0Up(amax[j], f);
                        q.scales().byteData()[q.scales().offset() + k] = code;
                        m[j] = ScaleMath.e8m0Multiplier(code);
                    }
                }
            }
            for (int r = r0; r < r1; r++) {
                if (tc == 1) {
                    for (int c = 0; c < cols; c++) dst[dOff + r * cols + c] = f.encodeSaturating(roundToOdd(src[so + r * cols + c] * m[c]));
                } else {
                    for (int j = 0; j < across; j++) {
                        int c0 = j * tc;
                        encode(src, so + r * cols + c0, dst, dOff + r * cols + c0, Math.min(cols, c0 + tc) - c0, m[j], f);
                    }
                }
            }
        }
        return q;
    }

    /**
     * {@code dst[k] = fp8(src[k] · scale)} for {@code n} elements: a slice of a tensor quantized per tensor with
     * {@code scale} (a rank's shard of a weight), each code exactly what {@link #perTensor} gives that element.
     */
    public static void encode(float[] src, int so, byte[] dst, int dOff, int n, float scale, Fp8Format f) {
        encode(src, so, dst, dOff, n, (double) scale, f);
    }

    /** {@code dst[k] = fp8(src[k] · m)}, saturating, correctly rounded from the exact product. */
    static void encode(float[] src, int so, byte[] dst, int dOff, int n, double m, Fp8Format f) {
        for (int k = 0; k < n; k++) {
            dst[dOff + k] = f.encodeSaturating(roundToOdd(src[so + k] * m));
        }
    }

    /**
     * {@code d} rounded to float with round-to-odd: truncated, and the last bit set if anything was cut off. Rounding
     * that float to a format at least two bits narrower gives the same result as rounding {@code d} directly, which
     * the FP8 formats (3 and 2 mantissa bits) are.
     */
    static float roundToOdd(double d) {
        float f = (float) d;
        if ((double) f == d || Float.isInfinite(f) || d != d) return f;
        int bits = Float.floatToRawIntBits(f);
        if ((bits & 1) == 0) bits += Math.abs((double) f) > Math.abs(d) ? -1 : 1; // the odd neighbour on d's side
        return Float.intBitsToFloat(bits);
    }
}
