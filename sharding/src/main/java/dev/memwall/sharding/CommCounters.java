package dev.memwall.sharding;

import dev.memwall.memory.Phase;

import java.util.Collections;
import java.util.EnumMap;
import java.util.Map;

/**
 * Bytes a rank's collectives moved, by the {@link Phase} that was current in the {@code MemoryTracker} when each call
 * was issued (so a gradient reduce-scatter issued during backward counts under BACKWARD even though it runs on the
 * communication thread). The training loop reads a step's figures and {@link #reset()}s them at the start of the
 * next step. Thread-safe: the communication thread records, any thread reads.
 */
public final class CommCounters {
    private final Map<Phase, CommTotals> byPhase = new EnumMap<>(Phase.class);

    synchronized void record(Phase phase, CommTotals call) {
        byPhase.merge(phase, call, CommTotals::plus);
    }

    /** Everything since the last reset, over all phases. */
    public synchronized CommTotals total() {
        CommTotals t = CommTotals.ZERO;
        for (CommTotals c : byPhase.values()) t = t.plus(c);
        return t;
    }

    /** One phase's figures since the last reset (zeros if nothing ran in it). */
    public synchronized CommTotals phase(Phase phase) {
        return byPhase.getOrDefault(phase, CommTotals.ZERO);
    }

    /** A copy of the figures per phase since the last reset; phases without calls are absent. */
    public synchronized Map<Phase, CommTotals> byPhase() {
        return Collections.unmodifiableMap(new EnumMap<>(byPhase));
    }

    /** Starts a new window (e.g. a step): every figure back to zero. */
    public synchronized void reset() {
        byPhase.clear();
    }
}
