package dev.memwall.sharding;

/**
 * Ring-equivalent bytes one rank sends and receives per collective (see {@link CommTotals}), for N ranks and float
 * buffers. Every backend counts with these, so figures compare across backends and with NCCL/MPI bus bandwidth.
 */
public final class RingVolumes {
    private RingVolumes() {
    }

    /** Bytes this rank sends and receives in one collective. */
    public record Volume(long sent, long received) {
        public static final Volume NONE = new Volume(0, 0);
    }

    /** All-reduce of {@code count} floats: 2·(N−1)/N of the buffer each way (reduce-scatter then all-gather). */
    public static Volume allReduce(long count, int n) {
        long b = 2 * (n - 1) * 4 * count / n;
        return new Volume(b, b);
    }

    /** Reduce-scatter of N·{@code shard} floats: (N−1)/N of the input each way, i.e. N−1 shards. */
    public static Volume reduceScatter(long shard, int n) {
        long b = (n - 1) * 4 * shard;
        return new Volume(b, b);
    }

    /** All-gather into N·{@code shard} floats: (N−1)/N of the output each way, i.e. N−1 shards. */
    public static Volume allGather(long shard, int n) {
        return reduceScatter(shard, n);
    }

    /**
     * Broadcast of {@code count} floats along the ring root, root+1, …: every rank but the root receives the buffer,
     * every rank but the last (root−1 mod N) passes it on.
     */
    public static Volume broadcast(long count, int n, int rank, int root) {
        if (n == 1) return Volume.NONE;
        long b = 4 * count;
        int last = (root + n - 1) % n;
        return new Volume(rank == last ? 0 : b, rank == root ? 0 : b);
    }

    /** All-reduce of {@code count} 16-bit elements: half the bytes of {@link #allReduce}. */
    public static Volume allReduce16(long count, int n) {
        long b = 2 * (n - 1) * 2 * count / n;
        return new Volume(b, b);
    }

    /** Reduce-scatter or all-gather of N·{@code shard} 16-bit elements: N−1 shards of 2 bytes each way. */
    public static Volume shards16(long shard, int n) {
        long b = (n - 1) * 2 * shard;
        return new Volume(b, b);
    }
}
