package dev.memwall.autograd;

import java.util.concurrent.atomic.LongAdder;

/**
 * How many format conversions {@link Tensor#to} has made, and of how many elements, per target format (encodes:
 * FP32 into a compact format) and per source format (decodes: a compact format widened to FP32), process-wide since the
 * last {@link #reset}. A conversion between two compact formats counts as a decode and an encode. This is what autocast
 * spends on casts besides its GEMMs: tests pin it ("a BF16 step encodes each weight once") and profiles read it.
 */
public final class ConversionCounts {
    private static final int N = DType.values().length;
    private static final LongAdder[] ENCODES = adders(), ENCODED = adders(), DECODES = adders(), DECODED = adders();

    private ConversionCounts() {
    }

    private static LongAdder[] adders() {
        LongAdder[] a = new LongAdder[N];
        for (int i = 0; i < N; i++) a[i] = new LongAdder();
        return a;
    }

    static void encoded(DType target, long elements) {
        ENCODES[target.ordinal()].increment();
        ENCODED[target.ordinal()].add(elements);
    }

    static void decoded(DType source, long elements) {
        DECODES[source.ordinal()].increment();
        DECODED[source.ordinal()].add(elements);
    }

    /** Conversions of FP32 values into {@code target} (calls of {@link Tensor#to}, whatever their size). */
    public static long encodes(DType target) {
        return ENCODES[target.ordinal()].sum();
    }

    /** Elements converted into {@code target}. */
    public static long encodedElements(DType target) {
        return ENCODED[target.ordinal()].sum();
    }

    /** Conversions of {@code source} values to FP32. */
    public static long decodes(DType source) {
        return DECODES[source.ordinal()].sum();
    }

    /** Elements of {@code source} converted to FP32. */
    public static long decodedElements(DType source) {
        return DECODED[source.ordinal()].sum();
    }

    /** Sets every count to zero. */
    public static void reset() {
        for (int i = 0; i < N; i++) {
            ENCODES[i].reset();
            ENCODED[i].reset();
            DECODES[i].reset();
            DECODED[i].reset();
        }
    }
}
