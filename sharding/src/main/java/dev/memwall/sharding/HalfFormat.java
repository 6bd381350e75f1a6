package dev.memwall.sharding;

import dev.memwall.format.Bf16;
import dev.memwall.format.Fp16;
import dev.memwall.format.Overflow;

/**
 * The number format of a 16-bit collective's elements ({@code short[]} bit patterns): what a reduction decodes before
 * it adds in FP32 and encodes its sum into, once. Rounding is to nearest even and does not saturate (a sum beyond the
 * format's range is infinite, so an overflow reaches the loss scaler instead of being clipped).
 */
public enum HalfFormat {
    BF16,
    FP16;

    public float toFloat(short bits) {
        return this == BF16 ? Bf16.toFloat(bits) : Fp16.toFloat(bits);
    }

    public short fromFloat(float f) {
        return this == BF16 ? Bf16.fromFloat(f, Overflow.NON_SATURATE) : Fp16.fromFloat(f, Overflow.NON_SATURATE);
    }

    /** {@code dst[dstOff + i] = fromFloat(src[srcOff + i])} for i &lt; n. */
    public void encode(float[] src, int srcOff, short[] dst, int dstOff, int n) {
        if (this == BF16) Bf16.encode(src, srcOff, dst, dstOff, n, Overflow.NON_SATURATE);
        else Fp16.encode(src, srcOff, dst, dstOff, n, Overflow.NON_SATURATE);
    }

    /** {@code dst[dstOff + i] = toFloat(src[srcOff + i])} for i &lt; n. */
    public void decode(short[] src, int srcOff, float[] dst, int dstOff, int n) {
        if (this == BF16) Bf16.decode(src, srcOff, dst, dstOff, n);
        else Fp16.decode(src, srcOff, dst, dstOff, n);
    }
}
