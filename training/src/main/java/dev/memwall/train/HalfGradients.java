package dev.memwall.train;

import dev.memwall.autograd.Tensor;
import dev.memwall.format.Bf16;
import dev.memwall.format.Fp16;
import dev.memwall.format.Overflow;
import dev.memwall.kernels.Bf16Arrays;
import dev.memwall.kernels.Parallel;
import dev.memwall.memory.Category;
import dev.memwall.precision.GradDtype;

import java.util.Arrays;

/**
 * Gradients held in 2 bytes per element ({@code --grad-dtype bf16|fp16}): one GRADIENT array in the low format, which
 * FP32 values are added into (each element decoded, added in FP32, rounded to nearest even) and which is decoded into
 * FP32 for the update. An overflow is stored as infinity, never saturated, so the loss scaler sees it. What the array
 * covers depends on the ZeRO stage ({@link LowPrecisionGradients}): the whole flat layout at stages 0 and 1, this
 * rank's gradient shard at stages 2 and 3.
 */
final class HalfGradients {
    private final GradDtype format;
    private final Tensor low;

    HalfGradients(GradDtype format, int length, String name) {
        if (format == GradDtype.FP32) throw new IllegalArgumentException("FP32 gradients are not held in 2 bytes");
        this.format = format;
        this.low = Tensor.empty(format.dtype(), Category.GRADIENT, name, length); // zero-filled
    }

    /** Adds {@code src[from, from + n)} into elements [at, at + n), rounding each sum once. */
    void add(int at, float[] src, int from, int n) {
        short[] dst = low.shortData();
        int base = low.offset() + at;
        boolean bf16 = format == GradDtype.BF16;
        Parallel.range(n, 4, (lo, hi) -> {
            for (int i = lo; i < hi; i++) {
                int k = base + i;
                float sum = (bf16 ? Bf16.toFloat(dst[k]) : Fp16.toFloat(dst[k])) + src[from + i];
                dst[k] = bf16 ? Bf16.fromFloat(sum, Overflow.NON_SATURATE) : Fp16.fromFloat(sum, Overflow.NON_SATURATE);
            }
        });
    }

    /** Every element decoded into {@code dst[0, length)}. */
    void decodeInto(float[] dst) {
        if (dst.length < length()) throw new IllegalArgumentException("decoding " + length() + " gradients into an array of " + dst.length);
        short[] src = low.shortData();
        int off = low.offset();
        if (format == GradDtype.BF16) Bf16Arrays.decode(src, off, dst, 0, length());
        else Parallel.range(length(), 1, (lo, hi) -> Fp16.decode(src, off + lo, dst, lo, hi - lo));
    }

    /** Zeroes every element for the next step. */
    void zero() {
        Arrays.fill(low.shortData(), low.offset(), low.offset() + length(), (short) 0);
    }

    int length() {
        return low.numel();
    }

    GradDtype format() {
        return format;
    }

    /** The 2-byte array (GRADIENT). */
    Tensor tensor() {
        return low;
    }
}
