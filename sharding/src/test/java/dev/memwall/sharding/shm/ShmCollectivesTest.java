package dev.memwall.sharding.shm;

import dev.memwall.sharding.ProcessGroup;
import dev.memwall.sharding.Work;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.Arrays;
import java.util.List;
import java.util.function.Function;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The collectives of the shared-memory backend against sequential references, ranks on threads of one JVM. A slot
 * of 64 floats makes every size above it run in several rounds. Results are compared bit for bit: the backend sums in
 * rank order, exactly as the reference does.
 */
class ShmCollectivesTest {
    private static final ShmOptions SMALL_SLOT = ShmOptions.DEFAULTS.withSlotFloats(64);
    /** Sizes around the slot and N: empty, single, not divisible by 2 or 4, one round and several. */
    private static final int[] SIZES = {0, 1, 2, 3, 5, 7, 63, 64, 65, 127, 1000, 4099};

    @ParameterizedTest
    @ValueSource(ints = {2, 4})
    void allReduceIsTheSumInRankOrderOnEveryRank(int n) {
        for (int len : SIZES) {
            long seed = 31L * len + n;
            float[][] inputs = Reference.inputs(seed, n, len);
            float[] expected = Reference.sum(inputs);
            List<float[]> results = run(n, SMALL_SLOT, g -> {
                float[] buf = new float[len + 3];
                System.arraycopy(inputs[g.rank()], 0, buf, 2, len); // at an offset, with guard cells around it
                buf[0] = buf[1] = buf[len + 2] = 42f;
                g.allReduce(buf, 2, len);
                return buf;
            });
            for (int r = 0; r < n; r++) {
                float[] buf = results.get(r);
                assertThat(Arrays.copyOfRange(buf, 2, len + 2)).as("rank %d, %d floats", r, len).isEqualTo(expected);
                assertThat(new float[] {buf[0], buf[1], buf[len + 2]}).as("outside the range").containsOnly(42f);
            }
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {2, 4})
    void reduceScatterLeavesEachRankTheSumOfItsShard(int n) {
        for (int shard : new int[] {0, 1, 3, 7, 16, 17, 100, 1001}) {
            float[][] inputs = Reference.inputs(shard * 7L + n, n, n * shard);
            float[] sum = Reference.sum(inputs);
            List<float[]> out = run(n, SMALL_SLOT, g -> {
                float[] o = new float[shard];
                g.reduceScatter(inputs[g.rank()].clone(), o);
                return o;
            });
            List<float[]> inPlace = run(n, SMALL_SLOT, g -> {
                float[] flat = inputs[g.rank()].clone();
                g.reduceScatter(flat, 0, flat, g.rank() * shard, shard);
                return Arrays.copyOfRange(flat, g.rank() * shard, (g.rank() + 1) * shard);
            });
            for (int r = 0; r < n; r++) {
                float[] expected = Arrays.copyOfRange(sum, r * shard, (r + 1) * shard);
                assertThat(out.get(r)).as("rank %d, shard %d", r, shard).isEqualTo(expected);
                assertThat(inPlace.get(r)).as("in place: rank %d, shard %d", r, shard).isEqualTo(expected);
            }
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {2, 4})
    void allGatherConcatenatesTheShardsInRankOrder(int n) {
        for (int shard : new int[] {0, 1, 5, 64, 65, 300}) {
            float[][] shards = Reference.inputs(shard + 11L * n, n, shard);
            float[] expected = new float[n * shard];
            for (int r = 0; r < n; r++) System.arraycopy(shards[r], 0, expected, r * shard, shard);
            List<float[]> out = run(n, SMALL_SLOT, g -> {
                float[] o = new float[n * shard];
                g.allGather(shards[g.rank()], o);
                return o;
            });
            List<float[]> inPlace = run(n, SMALL_SLOT, g -> {
                float[] o = new float[n * shard];
                System.arraycopy(shards[g.rank()], 0, o, g.rank() * shard, shard);
                g.allGather(o, g.rank() * shard, o, 0, shard);
                return o;
            });
            for (int r = 0; r < n; r++) {
                assertThat(out.get(r)).as("rank %d, shard %d", r, shard).isEqualTo(expected);
                assertThat(inPlace.get(r)).as("in place: rank %d, shard %d", r, shard).isEqualTo(expected);
            }
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {2, 4})
    void broadcastCopiesTheRootsBufferToEveryRank(int n) {
        for (int root = 0; root < n; root++) {
            for (int len : new int[] {0, 1, 130}) {
                float[][] inputs = Reference.inputs(root * 100L + len, n, len);
                int from = root;
                List<float[]> out = run(n, SMALL_SLOT, g -> {
                    float[] b = inputs[g.rank()].clone();
                    g.broadcast(b, 0, len, from);
                    return b;
                });
                for (int r = 0; r < n; r++) assertThat(out.get(r)).as("rank %d from %d", r, root).isEqualTo(inputs[root]);
            }
        }
    }

    @Test
    void asyncCollectivesRunInOrderAndFinishWhenAwaited() {
        int n = 2, len = 500;
        float[][] a = Reference.inputs(1, n, len), b = Reference.inputs(2, n, len);
        float[] sumA = Reference.sum(a);
        float[] gathered = new float[2 * len];
        System.arraycopy(b[0], 0, gathered, 0, len);
        System.arraycopy(b[1], 0, gathered, len, len);
        List<float[][]> out = run(n, SMALL_SLOT, g -> {
            float[] x = a[g.rank()].clone(), y = new float[2 * len];
            Work first = g.allReduceAsync(x, 0, len);
            Work second = g.allGatherAsync(b[g.rank()], 0, y, 0, len);
            Work third = g.barrierAsync();
            // The communication thread progresses them with nobody waiting (this is what overlaps backward).
            long deadline = System.nanoTime() + 60_000_000_000L;
            while (!third.isDone() && System.nanoTime() < deadline) Thread.onSpinWait();
            assertThat(third.isDone()).as("done without await").isTrue();
            second.await();
            assertThat(first.isDone()).as("issued first, so done before the second").isTrue();
            first.await();
            third.await();
            return new float[][] {x, y};
        });
        for (int r = 0; r < n; r++) {
            assertThat(out.get(r)[0]).isEqualTo(sumA);
            assertThat(out.get(r)[1]).isEqualTo(gathered);
        }
    }

    @Test
    void aSingleProcessGroupMovesNothing() {
        try (ProcessGroup g = ProcessGroup.single()) {
            float[] x = {1, 2, 3}, y = new float[3];
            g.allReduce(x);
            g.reduceScatter(x, y);
            g.broadcast(x, 0, 3, 0);
            g.barrier();
            assertThat(x).containsExactly(1, 2, 3);
            assertThat(y).containsExactly(1, 2, 3);
            assertThat(g.counters().total().calls()).isEqualTo(4);
            assertThat(g.counters().total().bytesSent() + g.counters().total().bytesReceived()).isZero();
            assertThat(g.backend()).isEqualTo("none");
        }
    }

    /** Joins n ranks on threads, runs {@code body} on each, closes them, and checks their segments are gone. */
    static <T> List<T> run(int n, ShmOptions options, Function<ShmProcessGroup, T> body) {
        try (TestJob job = new TestJob()) {
            List<ShmProcessGroup> groups = job.join(n, options);
            try {
                return TestJob.onThreads(n, r -> body.apply(groups.get(r)));
            } finally {
                groups.forEach(ShmProcessGroup::close);
                assertThat(job.files()).as("segments left after close").isEmpty();
            }
        }
    }
}
