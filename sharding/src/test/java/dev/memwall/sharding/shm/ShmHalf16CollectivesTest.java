package dev.memwall.sharding.shm;

import dev.memwall.sharding.CommTotals;
import dev.memwall.sharding.Half16Script;
import dev.memwall.sharding.HalfFormat;
import dev.memwall.sharding.ProcessGroup;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The shared-memory backend's 16-bit collectives against the sequential reference ({@link Half16Script}): bit for
 * bit, with a slot of 64 floats (128 16-bit elements) so most sizes take several rounds, at N = 2, 3 and 4; bytes
 * counted at 2 per element.
 */
class ShmHalf16CollectivesTest {
    private static final ShmOptions SMALL_SLOT = ShmOptions.DEFAULTS.withSlotFloats(64);

    @ParameterizedTest
    @ValueSource(ints = {2, 3, 4})
    void everyCollectiveMatchesTheReferenceBitForBit(int n) {
        long seed = 77 + n;
        List<Object[]> ranks = ShmCollectivesTest.run(n, SMALL_SLOT, g -> {
            List<short[]> got = Half16Script.run(g.rank(), n, seed, g);
            CommTotals c = g.counters().total();
            return new Object[] {got, c};
        });
        long[] volume = Half16Script.volume(n);
        for (int r = 0; r < n; r++) {
            @SuppressWarnings("unchecked") List<short[]> got = (List<short[]>) ranks.get(r)[0];
            List<short[]> expected = Half16Script.run(r, n, seed, null);
            for (int k = 0; k < expected.size(); k++) {
                assertThat(got.get(k)).as("rank %d of %d, result %d", r, n, k).isEqualTo(expected.get(k));
            }
            CommTotals c = (CommTotals) ranks.get(r)[1];
            assertThat(new long[] {c.calls(), c.bytesSent(), c.bytesReceived()}).as("rank %d: calls, bytes", r)
                    .containsExactly(Half16Script.calls(), volume[0], volume[1]);
        }
    }

    @Test
    void theSumIsRoundedOnceNotAfterEveryAdd() {
        // 1 + 2^-8 + 2^-8 in BF16 (8 significant bits): rounding after each add loses both small terms (ties to even),
        // one rounding of the FP32 sum keeps them: 1 + 2^-7.
        short one = dev.memwall.format.Bf16.fromFloat(1f, dev.memwall.format.Overflow.NON_SATURATE);
        short small = dev.memwall.format.Bf16.fromFloat(0x1p-8f, dev.memwall.format.Overflow.NON_SATURATE);
        List<short[]> out = ShmCollectivesTest.run(3, SMALL_SLOT, g -> {
            short[] b = {g.rank() == 0 ? one : small};
            g.allReduce16(b, 0, 1, HalfFormat.BF16);
            return b;
        });
        for (short[] b : out) assertThat(dev.memwall.format.Bf16.toFloat(b[0])).isEqualTo(1 + 0x1p-7f);
    }

    @Test
    void ranksDisagreeingOnTheFormatAreNamed() {
        assertThatThrownBy(() -> ShmCollectivesTest.run(2, SMALL_SLOT, g -> {
            g.allReduce16(new short[4], 0, 4, g.rank() == 0 ? HalfFormat.BF16 : HalfFormat.FP16);
            return null;
        })).hasMessageContaining("allReduce16(4 16-bit elements, BF16)").hasMessageContaining("FP16");
    }

    @Test
    void aSingleProcessGroupCopiesAndCountsNothing() {
        try (ProcessGroup g = ProcessGroup.single()) {
            short[] x = {1, 2, 3}, y = new short[3];
            g.allReduce16(x, 0, 3, HalfFormat.BF16);
            g.reduceScatter16(x, 0, y, 0, 3, HalfFormat.BF16);
            g.allGather16(x, 0, y, 0, 3);
            assertThat(x).containsExactly(1, 2, 3);
            assertThat(y).containsExactly(1, 2, 3);
            assertThat(g.counters().total().bytesSent()).isZero();
        }
    }
}
