package dev.memwall.train;

/**
 * The size of ZeRO stage 2's gradient buckets as a user gives it, in MiB (DeepSpeed's {@code reduce_bucket_size},
 * which counts elements; memwall's buckets are FP32, 4 bytes an element). The bucket bounds stage 2's COMMUNICATION
 * memory: a rank holds at most {@link GradientBuckets#MAX_IN_FLIGHT} buckets in flight and three being filled, plus the
 * transport's scratch (two arrays of a bucket's piece), so a smaller bucket trades memory for more, smaller collectives.
 */
public final class BucketSize {
    /** The largest bucket accepted: 4 GiB (2³⁰ floats), far beyond any useful size and within an array's index range. */
    public static final double MAX_MIB = 4096;

    private BucketSize() {
    }

    /**
     * The FP32 elements of a bucket of {@code mib} MiB (rounded down; {@link DataParallel#of} then rounds down to a
     * multiple of the world size, at least one element per rank). Refused: not a finite number, not positive, more than
     * {@link #MAX_MIB}, or less than one element.
     */
    public static int elements(double mib) {
        if (!Double.isFinite(mib) || mib <= 0) {
            throw new IllegalArgumentException("the gradient bucket must be a positive number of MiB, got " + mib);
        }
        if (mib > MAX_MIB) throw new IllegalArgumentException("the gradient bucket of " + mib + " MiB is more than " + MAX_MIB + " MiB");
        long elements = (long) Math.floor(mib * (1 << 20) / Float.BYTES);
        if (elements < 1) {
            throw new IllegalArgumentException("the gradient bucket of " + mib + " MiB holds no FP32 element (at least "
                    + Float.BYTES + " bytes, " + (double) Float.BYTES / (1 << 20) + " MiB)");
        }
        return (int) elements;
    }
}
