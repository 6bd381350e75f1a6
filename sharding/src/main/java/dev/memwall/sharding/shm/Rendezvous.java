package dev.memwall.sharding.shm;

import dev.memwall.sharding.CommException;
import dev.memwall.sharding.PeerFailedException;

import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * The barrier every collective step is built on, with bounded waits.
 *
 * <p>Each rank counts the barriers it has arrived at and publishes the count (release) in its segment; it then waits
 * until every peer's count (acquire) has reached its own. Counts only grow and a peer can be at most one barrier
 * ahead (it cannot pass the next one without us), so "≥" tells lagging from leading peers without the rotating
 * states DeepSpeed's shm.cpp needs for its reused state word.
 *
 * <p>Waiting spins briefly, then yields, then parks with a growing pause (at most 1 ms), so a rank that waits on a
 * loaded machine gives its core to the ranks it waits for. Every {@link ShmOptions#CHECK_MILLIS} it checks the peer
 * it waits for: closed its group, process exited, heartbeat silent for the peer timeout, or alive but absent for the
 * collective timeout each end the wait with an exception naming the rank — no wait is unbounded.
 */
final class Rendezvous {
    private static final long MAX_PARK_NANOS = TimeUnit.MILLISECONDS.toNanos(1);
    /** A gap between two checks longer than this means this rank itself was not running (GC pause, starved core). */
    private static final long SELF_STALL_NANOS = TimeUnit.SECONDS.toNanos(1);

    private final Segment[] segments;
    private final Optional<ProcessHandle>[] processes;
    private final int self;
    private final ShmOptions options;
    private long arrived;

    @SuppressWarnings("unchecked")
    Rendezvous(Segment[] segments, int self, ShmOptions options) {
        this.segments = segments;
        this.self = self;
        this.options = options;
        this.processes = new Optional[segments.length];
        for (int j = 0; j < segments.length; j++) processes[j] = ProcessHandle.of(segments[j].pid());
    }

    /** Arrives at the next barrier and waits, bounded, until every peer has arrived at it too. */
    void arrive(String op) {
        long target = ++arrived;
        segments[self].arrive(target);
        for (int j = 0; j < segments.length; j++) {
            if (j != self) await(j, target, op);
        }
    }

    private void await(int peer, long target, String op) {
        Segment p = segments[peer];
        if (p.seq() >= target) return;
        long start = System.nanoTime();
        long lastCheck = start;
        long beat = p.heartbeat();
        long beatChanged = start;
        long park = 10_000;
        int spins = 0;
        long checkNanos = TimeUnit.MILLISECONDS.toNanos(ShmOptions.CHECK_MILLIS);
        while (p.seq() < target) {
            if (spins < 200) {
                Thread.onSpinWait();
            } else if (spins < 300) {
                Thread.yield();
            } else {
                LockSupport.parkNanos(park);
                park = Math.min(MAX_PARK_NANOS, park * 2);
            }
            spins++;
            long now = System.nanoTime();
            if (now - lastCheck < checkNanos) continue;
            if (now - lastCheck > SELF_STALL_NANOS) beatChanged = now; // we were stalled: the peer's silence is ours
            lastCheck = now;
            if (Thread.currentThread().isInterrupted()) {
                throw new CommException("rank " + self + " was interrupted while waiting for rank " + peer + " in " + op);
            }
            if (p.seq() >= target) return;
            long b = p.heartbeat();
            if (b != beat) {
                beat = b;
                beatChanged = now;
            }
            if (p.closed()) {
                throw new PeerFailedException(peer, "rank " + peer + " left the group (closed it) during " + op);
            }
            if (processes[peer].isPresent() && !processes[peer].get().isAlive()) {
                throw new PeerFailedException(peer, "rank " + peer + " (pid " + p.pid() + ") exited during " + op);
            }
            if (now - beatChanged > TimeUnit.MILLISECONDS.toNanos(options.peerTimeoutMillis())) {
                throw new PeerFailedException(peer, String.format("rank %d stopped responding (no heartbeat for %.1f s) "
                        + "during %s", peer, (now - beatChanged) / 1e9, op));
            }
            if (now - start > TimeUnit.MILLISECONDS.toNanos(options.collectiveTimeoutMillis())) {
                throw new PeerFailedException(peer, String.format("rank %d did not reach %s within %.0f s although it "
                        + "is alive (heartbeat ticking); the ranks may be calling different collectives or rank %d is "
                        + "stuck", peer, op, (now - start) / 1e9, peer));
            }
        }
    }
}
