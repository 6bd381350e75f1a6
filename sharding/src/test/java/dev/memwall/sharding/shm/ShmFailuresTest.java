package dev.memwall.sharding.shm;

import dev.memwall.sharding.CommException;
import dev.memwall.sharding.PeerFailedException;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** How collectives end when a peer freezes, leaves or calls something else, and how bad arguments are refused. */
class ShmFailuresTest {
    /** Heartbeat every 20 ms, dead after 400 ms of silence; a peer alive but absent fails after 5 s. */
    private static final ShmOptions QUICK = ShmOptions.DEFAULTS.withSlotFloats(64).withPeerTimeout(20, 400)
            .withTimeouts(60_000, 5_000);

    @Test
    void aFrozenPeerEndsTheCollectiveNamingItAndBreaksTheGroup() {
        try (TestJob job = new TestJob()) {
            List<ShmProcessGroup> g = job.join(2, QUICK);
            try {
                g.get(1).freezeHeartbeat();
                assertThatThrownBy(() -> g.get(0).allReduce(new float[100]))
                        .isInstanceOfSatisfying(PeerFailedException.class, e -> assertThat(e.peer()).isEqualTo(1))
                        .hasMessageContaining("rank 1 stopped responding (no heartbeat for")
                        .hasMessageContaining("during allReduce");
                assertThatThrownBy(() -> g.get(0).barrier()).isInstanceOf(CommException.class)
                        .hasMessageContaining("broken by an earlier failure").hasMessageContaining("rank 1 stopped");
            } finally {
                g.forEach(ShmProcessGroup::close);
            }
            assertThat(job.files()).isEmpty();
        }
    }

    @Test
    void aPeerThatClosedItsGroupIsNamed() {
        try (TestJob job = new TestJob()) {
            List<ShmProcessGroup> g = job.join(2, QUICK);
            g.get(1).close();
            assertThatThrownBy(() -> g.get(0).barrier()).isInstanceOf(PeerFailedException.class)
                    .hasMessageContaining("rank 1 left the group");
            g.get(0).close();
        }
    }

    @Test
    void ranksCallingDifferentCollectivesAreToldWhichCallsDiffer() {
        try (TestJob job = new TestJob()) {
            List<ShmProcessGroup> g = job.join(2, QUICK);
            try {
                List<Throwable> failures = TestJob.onThreads(2, r -> {
                    try {
                        if (r == 0) g.get(0).allReduce(new float[10]);
                        else g.get(1).allGather(new float[5], new float[10]);
                        return null;
                    } catch (CommException e) {
                        return e;
                    }
                });
                for (Throwable e : failures) {
                    assertThat(e).isInstanceOf(CommException.class).hasMessageContaining("different collectives")
                            .hasMessageContaining("allReduce(10 floats)").hasMessageContaining("allGather(5 floats)");
                }
            } finally {
                g.forEach(ShmProcessGroup::close);
            }
        }
    }

    @Test
    void badArgumentsAreRefusedBeforeAnythingIsQueued() {
        try (TestJob job = new TestJob()) {
            List<ShmProcessGroup> g = job.join(2, QUICK);
            try {
                ShmProcessGroup r1 = g.get(1);
                assertThatThrownBy(() -> r1.reduceScatter(new float[5], new float[2]))
                        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("in has 5 floats, not 2 × 2");
                float[] flat = new float[8];
                assertThatThrownBy(() -> r1.allGather(flat, 0, flat, 0, 4))
                        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("not rank 1's own shard");
                assertThatThrownBy(() -> r1.broadcast(flat, 0, 8, 2))
                        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("root 2");
                assertThatThrownBy(() -> r1.allReduce(flat, 4, 5))
                        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("[4, 9)");
                // Nothing was queued, so the group still works.
                TestJob.onThreads(2, r -> {
                    g.get(r).barrier();
                    return null;
                });
            } finally {
                g.forEach(ShmProcessGroup::close);
            }
            assertThatThrownBy(() -> g.get(0).barrier()).isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("closed");
        }
    }
}
