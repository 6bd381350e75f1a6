package dev.memwall.sharding;

import dev.memwall.memory.MemoryTracker;
import dev.memwall.memory.Phase;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** World size 1 and the helpers every backend shares. */
class SingleProcessGroupTest {

    @Test
    void shardCollectivesCopyInPlaceOrNotAndCountCallsByPhaseWithZeroBytes() {
        MemoryTracker tracker = new MemoryTracker();
        try (MemoryTracker.Installed ignored = MemoryTracker.install(tracker); ProcessGroup g = ProcessGroup.single()) {
            tracker.phase(Phase.BACKWARD);
            float[] in = {1, 2, 3}, out = new float[3];
            g.reduceScatter(in, out);
            assertThat(out).containsExactly(1, 2, 3);
            float[] gathered = new float[3];
            g.allGatherAsync(out, 0, gathered, 0, 3).await();
            assertThat(gathered).containsExactly(1, 2, 3);
            g.reduceScatter(in, 0, in, 0, 3); // in place
            assertThat(in).containsExactly(1, 2, 3);
            tracker.phase(Phase.OPTIMIZER);
            g.allReduce(in);
            assertThat(g.counters().phase(Phase.BACKWARD)).isEqualTo(new CommTotals(3, 0, 0, 0, 0, 0));
            assertThat(g.counters().phase(Phase.OPTIMIZER).calls()).isEqualTo(1);
            g.counters().reset();
            assertThat(g.counters().byPhase()).isEmpty();
            assertThatThrownBy(() -> g.broadcast(in, 0, 3, 1)).hasMessageContaining("root 1 is not a rank of a group of 1");
            assertThatThrownBy(() -> g.allGather(in, new float[4])).hasMessageContaining("out has 4 floats, not 1 × 3");
        }
    }

    @Test
    void shardLengthRoundsUpSoTheLastRankTakesThePadding() {
        assertThat(ProcessGroup.shardLength(10, 4)).isEqualTo(3);
        assertThat(ProcessGroup.shardLength(12, 4)).isEqualTo(3);
        assertThat(ProcessGroup.shardLength(0, 4)).isZero();
        assertThat(ProcessGroup.shardLength(1, 4)).isEqualTo(1);
        assertThatThrownBy(() -> ProcessGroup.shardLength(5, 0)).hasMessageContaining("world size 0");
    }
}
