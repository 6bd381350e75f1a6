package dev.memwall.precision;

/**
 * The gradient elements one rank owns, as ranges of one FP32 array: the whole flat gradient buffer, a ZeRO shard
 * [from, to), or stage 2's segments. What the scaler unscales and checks for inf/NaN.
 */
public record GradientRanges(float[] array, int[] starts, int[] lengths) {
    public GradientRanges {
        if (starts.length != lengths.length) throw new IllegalArgumentException("one length per start: " + starts.length + " vs " + lengths.length);
        for (int k = 0; k < starts.length; k++) {
            if (starts[k] < 0 || lengths[k] < 0 || starts[k] + lengths[k] > array.length) {
                throw new IllegalArgumentException("gradient range [" + starts[k] + ", " + (starts[k] + lengths[k])
                        + ") outside an array of " + array.length);
            }
        }
    }

    /** The single range [from, to) of {@code array}. */
    public static GradientRanges of(float[] array, int from, int to) {
        return new GradientRanges(array, new int[]{from}, new int[]{to - from});
    }
}
