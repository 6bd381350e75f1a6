package dev.memwall.autograd;

/**
 * Element types. Arithmetic runs in FP32; the low-precision floating formats are storage formats, converted
 * with {@link Tensor#to(DType, dev.memwall.format.Overflow)}. INT32 holds token ids and targets, BOOL holds masks.
 */
public enum DType {
    FP32(4), FP16(2), BF16(2), FP8_E4M3(1), FP8_E5M2(1), INT32(4), BOOL(1);

    public final int bytes;

    DType(int bytes) {
        this.bytes = bytes;
    }

    public boolean isFloating() {
        return this != INT32 && this != BOOL;
    }
}
