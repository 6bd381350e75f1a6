package dev.memwall.sharding.shm;

import dev.memwall.sharding.CommTotals;
import dev.memwall.sharding.MaxScript;
import dev.memwall.sharding.ProcessGroup;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The shared-memory all-reduce MAX against the sequential reference ({@link MaxScript}): bit for bit (NaN on one rank
 * wins, +0 above -0), with a slot of 64 floats so the longer vectors take several rounds, at N = 2, 3 and 4; bytes
 * counted as an all-reduce of the same length. And the single process: nothing moves, nothing changes.
 */
class ShmAllReduceMaxTest {
    private static final ShmOptions SMALL_SLOT = ShmOptions.DEFAULTS.withSlotFloats(64);

    @ParameterizedTest
    @ValueSource(ints = {2, 3, 4})
    void matchesTheSequentialMaximumBitForBit(int n) {
        long seed = 5 + n;
        List<Object[]> ranks = ShmCollectivesTest.run(n, SMALL_SLOT, g -> {
            List<float[]> got = MaxScript.run(g.rank(), n, seed, g);
            return new Object[] {got, g.counters().total()};
        });
        for (int r = 0; r < n; r++) {
            @SuppressWarnings("unchecked") List<float[]> got = (List<float[]>) ranks.get(r)[0];
            List<float[]> expected = MaxScript.run(r, n, seed, null);
            for (int k = 0; k < expected.size(); k++) {
                assertThat(got.get(k)).as("rank %d of %d, length %d", r, n, MaxScript.LENGTHS[k]).isEqualTo(expected.get(k));
            }
            CommTotals c = (CommTotals) ranks.get(r)[1];
            assertThat(new long[] {c.calls(), c.bytesSent(), c.bytesReceived()}).as("rank %d: calls, bytes", r)
                    .containsExactly(MaxScript.LENGTHS.length, MaxScript.volume(n), MaxScript.volume(n));
        }
    }

    @Test
    void ranksDisagreeingOnTheLengthAreNamed() {
        assertThatThrownBy(() -> ShmCollectivesTest.run(2, SMALL_SLOT, g -> {
            g.allReduceMax(new float[4], 0, g.rank() == 0 ? 3 : 4);
            return null;
        })).hasMessageContaining("allReduceMax(3 floats)").hasMessageContaining("allReduceMax(4 floats)");
    }

    @Test
    void aSingleProcessKeepsItsValuesAndCountsNoBytes() {
        try (ProcessGroup g = ProcessGroup.single()) {
            float[] x = {3, Float.NaN, -0f, -2};
            g.allReduceMax(x, 0, 4);
            assertThat(x).containsExactly(3, Float.NaN, -0f, -2);
            assertThat(g.counters().total().calls()).isEqualTo(1);
            assertThat(g.counters().total().bytesSent()).isZero();
            assertThatThrownBy(() -> g.allReduceMax(x, 2, 3)).hasMessageContaining("allReduceMax: buf range [2, 5)");
        }
    }
}
