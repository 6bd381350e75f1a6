package dev.memwall.sharding;

import java.util.Map;

/**
 * The ranks of one job and the collectives between them, on float buffers (torch.distributed's process group).
 *
 * <p><b>Every rank calls the same collectives in the same order</b> with the same lengths (and root); the
 * shared-memory backend checks this and throws a {@link CommException} naming both calls when they differ.
 *
 * <p><b>Blocking and asynchronous.</b> Each collective has a blocking form and an {@code ...Async} form returning a
 * {@link Work}. A multi-rank group runs every collective, blocking or not, on its one communication thread, in the
 * order issued, so asynchronous calls progress while the caller computes (communication overlaps backward) and a
 * blocking call simply waits for its own turn. The buffers of an async call belong to it until {@code await()}.
 *
 * <p><b>Deterministic sums.</b> Element i of a reduction is always {@code ((x0 + x1) + x2) + … + x(N−1)} in rank
 * order, computed once and read by every rank: results are bitwise identical across ranks and runs, and identical to
 * a sequential sum in rank order.
 *
 * <p><b>Shards and padding.</b> {@link #reduceScatter} reads N·shard floats and leaves this rank's shard (rank r gets
 * the sum of elements [r·shard, (r+1)·shard)); {@link #allGather} is its inverse. Neither pads: a caller whose
 * buffer length is not a multiple of N pads it with zeros to N·{@link #shardLength} (zeros do not change sums, and
 * the last rank's shard ends in that padding).
 *
 * <p><b>Bytes.</b> {@link #counters()} counts what each call sends and receives, ring-equivalent, by phase (see
 * {@link CommTotals}). Scratch arrays a collective uses count under {@code Category.COMMUNICATION} in the current
 * {@code MemoryTracker} while it runs.
 *
 * <p><b>Failures.</b> No wait is unbounded: a peer that dies or stops its heartbeat ends the collective on every
 * other rank within seconds with a {@link PeerFailedException} naming it, and the group is then unusable. Under
 * {@code mpirun} (the MPI backend) a rank that dies or exits without finalising ends the whole job, and {@code mpirun}
 * names it; a collective that waits beyond its timeout fails with a {@link CommException}.
 */
public interface ProcessGroup extends AutoCloseable {

    int rank();

    int worldSize();

    /** "none" for a single process, "shm" for the shared-memory backend, "mpi" for Open MPI's. */
    String backend();

    /** Sums {@code buf[off, off+len)} over all ranks, in place, on every rank. */
    default void allReduce(float[] buf, int off, int len) {
        allReduceAsync(buf, off, len).await();
    }

    default void allReduce(float[] buf) {
        allReduce(buf, 0, buf.length);
    }

    Work allReduceAsync(float[] buf, int off, int len);

    /**
     * Element-wise maximum of {@code buf[off, off+len)} over all ranks, in place, on every rank (an FP8 recipe's amax
     * agreed over the shards of a weight). NaN wins: an element that is NaN on any rank is NaN on every rank. Counted
     * as an all-reduce of {@code len} floats.
     */
    default void allReduceMax(float[] buf, int off, int len) {
        allReduceMaxAsync(buf, off, len).await();
    }

    Work allReduceMaxAsync(float[] buf, int off, int len);

    /**
     * Sums {@code in[inOff, inOff + N·shard)} over all ranks and writes this rank's shard of the sum, elements
     * [rank·shard, (rank+1)·shard), to {@code out[outOff, outOff + shard)}. {@code out} may be this rank's own shard
     * of {@code in} (in place).
     */
    default void reduceScatter(float[] in, int inOff, float[] out, int outOff, int shard) {
        reduceScatterAsync(in, inOff, out, outOff, shard).await();
    }

    /** Reduce-scatter of the whole of {@code in}, whose length must be N·{@code out.length}. */
    default void reduceScatter(float[] in, float[] out) {
        requireShards("reduceScatter", "in", in.length, out.length, worldSize());
        reduceScatter(in, 0, out, 0, out.length);
    }

    Work reduceScatterAsync(float[] in, int inOff, float[] out, int outOff, int shard);

    /**
     * Writes every rank's {@code in[inOff, inOff + shard)} to {@code out[outOff + r·shard, …)} for r = 0…N−1, on every
     * rank. {@code in} may be this rank's own shard of {@code out} (in place).
     */
    default void allGather(float[] in, int inOff, float[] out, int outOff, int shard) {
        allGatherAsync(in, inOff, out, outOff, shard).await();
    }

    /** All-gather into the whole of {@code out}, whose length must be N·{@code in.length}. */
    default void allGather(float[] in, float[] out) {
        requireShards("allGather", "out", out.length, in.length, worldSize());
        allGather(in, 0, out, 0, in.length);
    }

    Work allGatherAsync(float[] in, int inOff, float[] out, int outOff, int shard);

    /** Copies rank {@code root}'s {@code buf[off, off+len)} to the same range on every rank. */
    default void broadcast(float[] buf, int off, int len, int root) {
        broadcastAsync(buf, off, len, root).await();
    }

    Work broadcastAsync(float[] buf, int off, int len, int root);

    /** Returns once every rank has called it. */
    default void barrier() {
        barrierAsync().await();
    }

    Work barrierAsync();

    // 16-bit collectives: BF16/FP16 bit patterns in short[], 2 bytes per element on the wire (see Half16Collectives)

    /** {@link #allGather} of 16-bit elements: rank r's {@code in[inOff, inOff + shard)} to {@code out[outOff + r·shard, …)}. */
    default void allGather16(short[] in, int inOff, short[] out, int outOff, int shard) {
        allGather16Async(in, inOff, out, outOff, shard).await();
    }

    Work allGather16Async(short[] in, int inOff, short[] out, int outOff, int shard);

    /**
     * {@link #reduceScatter} of 16-bit elements in {@code format}: each element of this rank's shard is decoded from
     * every rank, summed in FP32 in rank order, and encoded once (round to nearest even, not saturating).
     */
    default void reduceScatter16(short[] in, int inOff, short[] out, int outOff, int shard, HalfFormat format) {
        reduceScatter16Async(in, inOff, out, outOff, shard, format).await();
    }

    Work reduceScatter16Async(short[] in, int inOff, short[] out, int outOff, int shard, HalfFormat format);

    /** {@link #allReduce} of 16-bit elements in {@code format}: FP32 sums in rank order, encoded once. */
    default void allReduce16(short[] buf, int off, int len, HalfFormat format) {
        allReduce16Async(buf, off, len, format).await();
    }

    Work allReduce16Async(short[] buf, int off, int len, HalfFormat format);

    /** Bytes moved by this rank's collectives since the last reset. */
    CommCounters counters();

    /**
     * Waits for collectives still queued (bounded by their timeouts), then releases the transport: the shared-memory
     * backend removes this rank's segment file. Does not synchronise with the other ranks; call {@link #barrier()}
     * first if they must all be done. The MPI backend finalises MPI only after such a barrier (see
     * {@code MpiProcessGroup}).
     */
    @Override
    void close();

    /** ceil(count / n): the shard length when {@code count} floats are split over n ranks, padding the last. */
    static int shardLength(long count, int n) {
        if (n < 1) throw new IllegalArgumentException("shardLength: world size " + n + " < 1");
        if (count < 0) throw new IllegalArgumentException("shardLength: negative count " + count);
        return Math.toIntExact((count + n - 1) / n);
    }

    /** The group of a single process: every collective returns at once, moves nothing and counts zero bytes. */
    static ProcessGroup single() {
        return new SingleProcessGroup();
    }

    /** {@link #fromEnvironment(Map)} of this process's environment. */
    static ProcessGroup fromEnvironment() {
        return fromEnvironment(System.getenv());
    }

    /**
     * The group described by the launcher's environment: under {@code memwall launch} (see {@link LaunchEnvironment})
     * a shared-memory group joined in MEMWALL_RUN_DIR under MEMWALL_JOB_ID, under {@code mpirun} with more than one
     * rank an Open MPI group, else {@link #single()} (WORLD_SIZE unset or 1).
     *
     * @throws JoinRefusedException when the environment is incomplete or wrong, or the peers do not join
     */
    static ProcessGroup fromEnvironment(Map<String, String> env) {
        return fromEnvironment(env, null);
    }

    /**
     * The group of the backend {@code backend} ("shm", "mpi"), or, when null, of the one the environment implies:
     * Open MPI's when started by {@code mpirun} (OMPI_COMM_WORLD_SIZE &gt; 1), shared memory under {@code memwall
     * launch}, else {@link #single()} (see {@link Backends}).
     *
     * @throws JoinRefusedException when the chosen backend is unavailable (naming what to install or how to start)
     */
    static ProcessGroup fromEnvironment(Map<String, String> env, String backend) {
        return Backends.join(env, backend);
    }

    private static void requireShards(String op, String wholeName, int whole, int shard, int n) {
        if ((long) shard * n != whole) {
            throw new IllegalArgumentException(op + ": " + wholeName + " has " + whole + " floats, not " + n + " × "
                    + shard + "; pad the full buffer to N·shardLength(count, N) floats");
        }
    }
}
