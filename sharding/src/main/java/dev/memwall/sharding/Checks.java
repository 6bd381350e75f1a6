package dev.memwall.sharding;

/** Argument checks shared by every backend, run on the caller's thread before anything is queued. */
final class Checks {
    private Checks() {
    }

    static void range(String op, String what, float[] buf, int off, long len) {
        if (buf == null) throw new IllegalArgumentException(op + ": " + what + " is null");
        if (off < 0 || len < 0 || off + len > buf.length) {
            throw new IllegalArgumentException(op + ": " + what + " range [" + off + ", " + (off + len)
                    + ") is outside its array of length " + buf.length);
        }
    }

    static void range(String op, String what, short[] buf, int off, long len) {
        if (buf == null) throw new IllegalArgumentException(op + ": " + what + " is null");
        if (off < 0 || len < 0 || off + len > buf.length) {
            throw new IllegalArgumentException(op + ": " + what + " range [" + off + ", " + (off + len)
                    + ") is outside its array of length " + buf.length);
        }
    }

    static void format(String op, HalfFormat format) {
        if (format == null) throw new IllegalArgumentException(op + ": the 16-bit format (BF16 or FP16) is null");
    }

    /**
     * The shard-wise collectives accept {@code out} at exactly this rank's shard of {@code in} (reduce-scatter) or
     * {@code in} at exactly this rank's shard of {@code out} (all-gather), which is how ZeRO calls them in place on a
     * flat buffer; any other overlap would read values the call has already overwritten.
     */
    static void inPlaceOrDisjoint(String op, Object whole, int wholeOff, Object part, int partOff, int shard,
                                  int n, int rank) {
        if (whole != part) return;
        long wholeEnd = wholeOff + (long) n * shard;
        boolean overlap = partOff < wholeEnd && wholeOff < partOff + (long) shard;
        if (overlap && shard > 0 && partOff != wholeOff + (long) rank * shard) {
            throw new IllegalArgumentException(op + ": the shard at offset " + partOff + " overlaps the full buffer ["
                    + wholeOff + ", " + wholeEnd + ") of the same array but is not rank " + rank
                    + "'s own shard (offset " + (wholeOff + (long) rank * shard) + "); in place only works there");
        }
    }

    static void root(String op, int root, int n) {
        if (root < 0 || root >= n) {
            throw new IllegalArgumentException(op + ": root " + root + " is not a rank of a group of " + n);
        }
    }

    static void shard(String op, int shard, int n) {
        if (shard < 0) throw new IllegalArgumentException(op + ": negative shard length " + shard);
        if ((long) shard * n > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(op + ": " + n + " shards of " + shard + " floats exceed a Java array");
        }
    }
}
