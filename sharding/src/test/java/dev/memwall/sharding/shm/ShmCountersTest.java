package dev.memwall.sharding.shm;

import dev.memwall.memory.Category;
import dev.memwall.memory.MemoryTracker;
import dev.memwall.memory.Phase;
import dev.memwall.sharding.CommTotals;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/** Bytes counted per call against the ring formulas, raw copies against the data flow, scratch as COMMUNICATION. */
class ShmCountersTest {
    private static final int SLOT = 4096;

    @ParameterizedTest
    @ValueSource(ints = {2, 4})
    void ringEquivalentBytesPerPhaseAndRawCopies(int n) {
        int len = 1001, shard = 37, bcast = 50, root = 1;
        MemoryTracker tracker = new MemoryTracker();
        try (MemoryTracker.Installed ignored = MemoryTracker.install(tracker);
             TestJob job = new TestJob()) {
            List<ShmProcessGroup> g = job.join(n, ShmOptions.DEFAULTS.withSlotFloats(SLOT));
            try {
                g.forEach(x -> assertThat(x.counters().total()).as("nothing counted after joining").isEqualTo(CommTotals.ZERO));
                tracker.phase(Phase.BACKWARD);
                TestJob.onThreads(n, r -> {
                    g.get(r).allReduce(new float[len]);
                    g.get(r).reduceScatter(new float[n * shard], new float[shard]);
                    return null;
                });
                tracker.phase(Phase.OPTIMIZER);
                TestJob.onThreads(n, r -> {
                    g.get(r).allGather(new float[shard], new float[n * shard]);
                    g.get(r).broadcast(new float[bcast], 0, bcast, root);
                    g.get(r).barrier();
                    return null;
                });
                for (int r = 0; r < n; r++) {
                    CommTotals backward = g.get(r).counters().phase(Phase.BACKWARD);
                    CommTotals optimizer = g.get(r).counters().phase(Phase.OPTIMIZER);
                    // all-reduce: 2(N−1)/N of 4·len bytes each way; reduce-scatter: N−1 shards of 4·shard bytes.
                    long backwardBytes = 2L * (n - 1) * 4 * len / n + (n - 1) * 4L * shard;
                    assertThat(backward.calls()).isEqualTo(2);
                    assertThat(backward.bytesSent()).as("rank %d", r).isEqualTo(backwardBytes);
                    assertThat(backward.bytesReceived()).as("rank %d", r).isEqualTo(backwardBytes);
                    // all-gather: N−1 shards; broadcast from rank 1 along the ring 1, 2, …, 0: rank 0 is last.
                    long sent = (n - 1) * 4L * shard + (r == 0 ? 0 : 4L * bcast);
                    long received = (n - 1) * 4L * shard + (r == root ? 0 : 4L * bcast);
                    assertThat(optimizer.calls()).isEqualTo(3);
                    assertThat(optimizer.bytesSent()).as("rank %d", r).isEqualTo(sent);
                    assertThat(optimizer.bytesReceived()).as("rank %d", r).isEqualTo(received);

                    // Raw copies of the all-reduce (one round): rank r writes the buffer and its part of the sum,
                    // reads N copies of its part and the whole result; part r is [len·r/N, len·(r+1)/N).
                    long part = (long) len * (r + 1) / n - (long) len * r / n;
                    long rsShardRaw = 4L * n * shard; // reduce-scatter writes N pieces, reads N pieces of its shard
                    assertThat(backward.rawBytesWritten()).isEqualTo(4 * (len + part) + rsShardRaw);
                    assertThat(backward.rawBytesRead()).isEqualTo(4 * (n * part + len) + rsShardRaw);
                    assertThat(g.get(r).counters().total()).isEqualTo(backward.plus(optimizer));
                    g.get(r).counters().reset();
                    assertThat(g.get(r).counters().total()).isEqualTo(CommTotals.ZERO);
                }
                // Scratch: two arrays of one all-reduce part, per rank, only while a collective runs.
                long partBytes = 4L * ((len + n - 1) / n);
                assertThat(tracker.current(Category.COMMUNICATION)).isZero();
                assertThat(tracker.peak(Category.COMMUNICATION)).isBetween(2 * partBytes, n * 2 * partBytes);
            } finally {
                g.forEach(ShmProcessGroup::close);
            }
        }
    }

    /**
     * Reduce-scatter and all-gather borrow no scratch (a reduce-scatter sums straight into its output, in place too),
     * so a caller's own buffers are all the COMMUNICATION they cost: what lets ZeRO stage 3 hold two units' bytes.
     * Several rounds (a shard longer than a slot's piece) and the in-place form included.
     */
    @ParameterizedTest
    @ValueSource(ints = {2, 4})
    void reduceScatterAndAllGatherBorrowNoScratch(int n) {
        int shard = 3 * SLOT / n + 5;
        MemoryTracker tracker = new MemoryTracker();
        try (MemoryTracker.Installed ignored = MemoryTracker.install(tracker);
             TestJob job = new TestJob()) {
            List<ShmProcessGroup> g = job.join(n, ShmOptions.DEFAULTS.withSlotFloats(SLOT));
            try {
                TestJob.onThreads(n, r -> {
                    float[] in = new float[n * shard];
                    java.util.Arrays.fill(in, r + 1);
                    g.get(r).reduceScatter(in, 0, in, r * shard, shard); // in place
                    g.get(r).reduceScatter(in, new float[shard]);
                    g.get(r).allGather(new float[shard], new float[n * shard]);
                    return null;
                });
                assertThat(tracker.peak(Category.COMMUNICATION)).isZero();
            } finally {
                g.forEach(ShmProcessGroup::close);
            }
        }
    }
}
