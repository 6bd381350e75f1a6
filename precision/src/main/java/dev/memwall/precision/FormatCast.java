package dev.memwall.precision;

import dev.memwall.autograd.DType;
import dev.memwall.autograd.Tensor;
import dev.memwall.format.Overflow;
import dev.memwall.memory.Category;
import dev.memwall.ops.F;

/**
 * A plain cast to a 16-bit format, round to nearest even, without saturation: a value beyond the format's range
 * becomes infinity, as PyTorch's casts do, so an overflow reaches the loss scaler instead of being clipped silently.
 */
public record FormatCast(DType format) implements LowPrecisionCast {
    public static final FormatCast BF16 = new FormatCast(DType.BF16);
    public static final FormatCast FP16 = new FormatCast(DType.FP16);

    public FormatCast {
        if (format != DType.BF16 && format != DType.FP16) {
            throw new IllegalArgumentException("a format cast is to BF16 or FP16, not " + format
                    + " (FP8 needs a scaling recipe)");
        }
    }

    @Override
    public String name() {
        return format.name().toLowerCase();
    }

    @Override
    public Tensor castActivation(String op, int index, Tensor x) {
        if (x.dtype() == format) return x;
        return F.cast(x, format, Overflow.NON_SATURATE, Category.TEMPORARY);
    }

    @Override
    public Tensor castWeight(String op, int index, Tensor w) {
        return F.cast(w, format, Overflow.NON_SATURATE, Category.PARAMETER);
    }
}
