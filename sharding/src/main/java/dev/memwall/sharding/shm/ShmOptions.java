package dev.memwall.sharding.shm;

import dev.memwall.sharding.JoinRefusedException;

import java.util.Map;

/**
 * Sizes and time limits of the shared-memory backend.
 *
 * @param slotFloats        floats per region of a rank's segment; a collective larger than a slot runs in chunks
 * @param heartbeatMillis   how often each rank's heartbeat thread ticks
 * @param peerTimeoutMillis a peer whose heartbeat has not ticked for this long is declared dead (a peer whose
 *                          process has exited is declared dead at the next check, every {@link #CHECK_MILLIS})
 * @param joinTimeoutMillis how long a rank waits for the others to create their segments
 * @param collectiveTimeoutMillis how long a rank waits in one step of a collective for a peer that is alive but does
 *                          not arrive (e.g. still computing, or stuck)
 */
public record ShmOptions(int slotFloats, long heartbeatMillis, long peerTimeoutMillis, long joinTimeoutMillis,
                         long collectiveTimeoutMillis) {
    /** How often a waiting rank looks at the liveness of the peers it waits for. */
    public static final long CHECK_MILLIS = 50;

    public static final ShmOptions DEFAULTS = new ShmOptions(1 << 20, 100, 5_000, 120_000, 600_000);

    public ShmOptions {
        if (slotFloats < 64) throw new IllegalArgumentException("slotFloats " + slotFloats + " < 64");
        if (heartbeatMillis < 1) throw new IllegalArgumentException("heartbeatMillis " + heartbeatMillis + " < 1");
        if (peerTimeoutMillis < 2 * heartbeatMillis) {
            throw new IllegalArgumentException("peerTimeoutMillis " + peerTimeoutMillis + " is under two heartbeats ("
                    + heartbeatMillis + " ms each)");
        }
        if (joinTimeoutMillis < 1 || collectiveTimeoutMillis < 1) {
            throw new IllegalArgumentException("timeouts must be positive: join " + joinTimeoutMillis
                    + " ms, collective " + collectiveTimeoutMillis + " ms");
        }
    }

    public ShmOptions withSlotFloats(int floats) {
        return new ShmOptions(floats, heartbeatMillis, peerTimeoutMillis, joinTimeoutMillis, collectiveTimeoutMillis);
    }

    public ShmOptions withPeerTimeout(long heartbeat, long peerTimeout) {
        return new ShmOptions(slotFloats, heartbeat, peerTimeout, joinTimeoutMillis, collectiveTimeoutMillis);
    }

    public ShmOptions withTimeouts(long join, long collective) {
        return new ShmOptions(slotFloats, heartbeatMillis, peerTimeoutMillis, join, collective);
    }

    /**
     * The defaults, overridden by MEMWALL_SHM_SLOT_MB (size of one region), MEMWALL_PEER_TIMEOUT_S,
     * MEMWALL_JOIN_TIMEOUT_S and MEMWALL_COLLECTIVE_TIMEOUT_S (seconds, decimals allowed).
     */
    public static ShmOptions fromEnvironment(Map<String, String> env) {
        ShmOptions d = DEFAULTS;
        int slot = env.containsKey("MEMWALL_SHM_SLOT_MB")
                ? Math.toIntExact(Math.round(number(env, "MEMWALL_SHM_SLOT_MB") * (1 << 20) / 4)) : d.slotFloats;
        return new ShmOptions(slot, d.heartbeatMillis, millis(env, "MEMWALL_PEER_TIMEOUT_S", d.peerTimeoutMillis),
                millis(env, "MEMWALL_JOIN_TIMEOUT_S", d.joinTimeoutMillis),
                millis(env, "MEMWALL_COLLECTIVE_TIMEOUT_S", d.collectiveTimeoutMillis));
    }

    private static long millis(Map<String, String> env, String name, long otherwise) {
        return env.containsKey(name) ? Math.round(number(env, name) * 1000) : otherwise;
    }

    private static double number(Map<String, String> env, String name) {
        String v = env.get(name);
        try {
            double x = Double.parseDouble(v.trim());
            if (!(x > 0) || Double.isInfinite(x)) throw new NumberFormatException();
            return x;
        } catch (NumberFormatException e) {
            throw new JoinRefusedException(name + "='" + v + "' is not a positive number");
        }
    }
}
