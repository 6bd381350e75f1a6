package dev.memwall.optim;

import java.util.Arrays;

/**
 * The elements an {@link Optimizer} updates: segments {@code [starts[k], starts[k] + lengths[k])} of the flat
 * parameter buffer, whose gradients lie at {@code [gradStarts[k], gradStarts[k] + lengths[k])} of {@code grads} —
 * the flat gradient buffer itself when {@code grads} is null. The optimizer's state covers the segments one after
 * another (Σ lengths elements).
 *
 * <p>One range of both flat buffers ({@link #range}) is what a single process and ZeRO stages 0 and 1 update. At
 * stage 2 a rank owns one piece of every gradient bucket and keeps only those gradients, in an array of its own.
 */
public record Shard(int[] starts, int[] lengths, float[] grads, int[] gradStarts) {
    public Shard {
        if (starts.length != lengths.length || starts.length != gradStarts.length) {
            throw new IllegalArgumentException("shard: " + starts.length + " starts, " + lengths.length + " lengths, "
                    + gradStarts.length + " gradient starts");
        }
        for (int k = 0; k < starts.length; k++) {
            if (starts[k] < 0 || lengths[k] < 0 || gradStarts[k] < 0 || (grads != null && gradStarts[k] + lengths[k] > grads.length)) {
                throw new IllegalArgumentException("shard segment " + k + ": start " + starts[k] + ", length " + lengths[k]
                        + ", gradient start " + gradStarts[k] + (grads == null ? "" : " in " + grads.length + " gradients"));
            }
        }
    }

    /** [from, to) of the flat parameter and gradient buffers. */
    public static Shard range(int from, int to) {
        if (from < 0 || from > to) throw new IllegalArgumentException("shard range [" + from + ", " + to + ")");
        return new Shard(new int[] {from}, new int[] {to - from}, null, new int[] {from});
    }

    /** Elements updated (and of optimizer state): Σ lengths. */
    public int size() {
        int n = 0;
        for (int l : lengths) n += l;
        return n;
    }

    /** Whether both describe the same elements with gradients in the same array. */
    public boolean sameAs(Shard o) {
        return grads == o.grads && Arrays.equals(starts, o.starts) && Arrays.equals(lengths, o.lengths)
                && Arrays.equals(gradStarts, o.gradStarts);
    }

    @Override
    public String toString() {
        if (starts.length == 1 && grads == null) return "[" + starts[0] + ", " + (starts[0] + lengths[0]) + ")";
        return starts.length + " segments, " + size() + " elements" + (grads == null ? "" : ", gradients in an array of " + grads.length);
    }
}
