package dev.memwall.precision.fp8;

/**
 * amax → scale, in double precision (torchao's {@code amax_to_scale}, Transformer Engine's
 * {@code compute_scale_from_amax}). A scale multiplies values into the FP8 range: {@code code = fp8(x · scale)},
 * {@code x ≈ value(code) / scale}.
 */
public final class ScaleMath {
    /** Floor on amax so a tiny amax cannot blow the scale up without bound (torchao's EPS). */
    public static final double EPS = 1e-12;
    /** E8M0's exponent bias; code 0xFF is NaN. */
    public static final int E8M0_BIAS = 127;
    public static final byte E8M0_NAN = (byte) 0xFF;

    private ScaleMath() {
    }

    /**
     * Delayed scaling's rule: {@code (fp8_max / max(amax, EPS)) / 2^margin}. A non-finite or zero amax (nothing seen
     * yet, or an overflowed step) keeps {@code previous}. A scale beyond FP32 becomes FP32's largest value.
     */
    public static float delayed(double amax, float fp8Max, int margin, float previous) {
        if (!Double.isFinite(amax) || amax <= 0) return previous;
        return toFloatScale(fp8Max / Math.max(amax, EPS) / Math.scalb(1.0, margin));
    }

    /**
     * Current scaling's rule: {@code fp8_max / max(amax, EPS)} from this tensor's amax. With a zero, infinite or NaN
     * amax the scale is 1, as in Transformer Engine: infinities then saturate and NaN stays NaN.
     */
    public static float current(double amax, float fp8Max) {
        if (!Double.isFinite(amax) || amax <= 0) return 1f;
        return toFloatScale(fp8Max / Math.max(amax, EPS));
    }

    /**
     * Block scaling's rule: the largest power of two {@code p} with {@code p · amax ≤ fp8_max} (Transformer Engine's
     * {@code power_2_scale}, which truncates the FP32 scale's mantissa), capped at 2^127. Zero or non-finite amax: 1.
     */
    public static float powerOfTwoDown(double amax, float fp8Max) {
        if (!Double.isFinite(amax) || amax <= 0) return 1f;
        int e = Math.getExponent(fp8Max / amax); // 2^e ≤ fp8Max/amax (rounded) < 2^(e+1)
        if (Math.scalb(amax, e) > fp8Max) e--; // the double division rounded up across a power of two
        return Math.scalb(1f, Math.min(e, 127));
    }

    /**
     * MX's shared scale, rounded up: the E8M0 code of the smallest power of two {@code X} with {@code amax / X ≤
     * fp8_max}, so the block's largest value lands at or below the format's max and never saturates. (The OCP floor
     * rule, {@code X = 2^(floor(log2 amax) − maxExponent)}, leaves amax/X in [256, 512) and clips [448, 512).) Zero
     * amax: 2^-127; non-finite amax: the NaN code, so the block decodes to NaN.
     */
    public static byte e8m0Up(double amax, Fp8Format f) {
        if (Double.isNaN(amax) || Double.isInfinite(amax)) return E8M0_NAN;
        if (amax <= 0) return 0;
        int e = Math.getExponent(amax) - f.maxExponent - 1; // f.max · 2^e < amax here: max < 2^(maxExponent+1)
        while (Math.scalb((double) f.max, e) < amax) e++; // at most two steps
        e = Math.max(-E8M0_BIAS, Math.min(E8M0_BIAS, e));
        return (byte) (e + E8M0_BIAS);
    }

    /** The multiplier 1/X = 2^(127 − code) of an E8M0 code; NaN for the NaN code. */
    public static double e8m0Multiplier(byte code) {
        return code == E8M0_NAN ? Double.NaN : Math.scalb(1.0, E8M0_BIAS - (code & 0xFF));
    }

    private static float toFloatScale(double s) {
        return s > Float.MAX_VALUE ? Float.MAX_VALUE : (float) s;
    }
}
