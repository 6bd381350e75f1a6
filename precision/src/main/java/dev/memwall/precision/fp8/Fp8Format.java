package dev.memwall.precision.fp8;

import dev.memwall.autograd.DType;
import dev.memwall.format.Fp8E4M3;
import dev.memwall.format.Fp8E5M2;
import dev.memwall.format.Overflow;

/**
 * One 8-bit element format, with the core's exact codecs ({@link Fp8E4M3}, {@link Fp8E5M2}). E4M3 has more mantissa
 * (forward: weights and activations), E5M2 more range (backward: gradients).
 */
public enum Fp8Format {
    /** 4 exponent bits, 3 mantissa bits, largest finite 448, no infinity. */
    E4M3(Fp8E4M3.MAX, 8, DType.FP8_E4M3),
    /** 5 exponent bits, 2 mantissa bits, largest finite 57,344. */
    E5M2(Fp8E5M2.MAX, 15, DType.FP8_E5M2);

    /** Largest finite value. */
    public final float max;
    /** Exponent of the largest binade: max = 1.75 · 2^maxExponent. */
    public final int maxExponent;
    /** The storage dtype of the codes. */
    public final DType dtype;

    Fp8Format(float max, int maxExponent, DType dtype) {
        this.max = max;
        this.maxExponent = maxExponent;
        this.dtype = dtype;
    }

    /** Nearest code (ties to even), saturating: out-of-range values and infinities become ±max, NaN stays NaN. */
    public byte encodeSaturating(float f) {
        return this == E4M3 ? Fp8E4M3.fromFloat(f, Overflow.SATURATE) : Fp8E5M2.fromFloat(f, Overflow.SATURATE);
    }

    /** Exact value of a code. */
    public float decode(byte code) {
        return this == E4M3 ? Fp8E4M3.toFloat(code) : Fp8E5M2.toFloat(code);
    }

    /** Decodes {@code n} codes into floats. */
    public void decode(byte[] src, int srcOff, float[] dst, int dstOff, int n) {
        if (this == E4M3) Fp8E4M3.decode(src, srcOff, dst, dstOff, n);
        else Fp8E5M2.decode(src, srcOff, dst, dstOff, n);
    }
}
