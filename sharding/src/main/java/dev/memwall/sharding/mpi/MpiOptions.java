package dev.memwall.sharding.mpi;

import dev.memwall.sharding.JoinRefusedException;

import java.util.Map;

/**
 * Sizes and time limits of the MPI backend.
 *
 * @param slotFloats              floats of the native scratch buffer; a larger collective runs in rounds of at most
 *                                this many (the shared-memory backend's slot, 4 MiB, by default)
 * @param collectiveTimeoutMillis how long one round may wait for its peers before the collective fails (a peer that
 *                                died is reported sooner, by {@code mpirun}, which ends the job)
 * @param pollMaxMicros           longest sleep between two polls of a collective in flight; 0 = spin without sleeping
 */
public record MpiOptions(int slotFloats, long collectiveTimeoutMillis, long pollMaxMicros) {
    public static final MpiOptions DEFAULTS = new MpiOptions(1 << 20, 600_000, 50);

    public MpiOptions {
        if (slotFloats < 64) throw new IllegalArgumentException("slotFloats " + slotFloats + " < 64");
        if (collectiveTimeoutMillis < 1) throw new IllegalArgumentException("collective timeout " + collectiveTimeoutMillis + " ms");
        if (pollMaxMicros < 0) throw new IllegalArgumentException("pollMaxMicros " + pollMaxMicros + " < 0");
    }

    /**
     * The defaults, overridden by MEMWALL_MPI_SLOT_MB, MEMWALL_COLLECTIVE_TIMEOUT_S (shared with the shared-memory
     * backend) and MEMWALL_MPI_POLL_US.
     */
    public static MpiOptions fromEnvironment(Map<String, String> env) {
        MpiOptions d = DEFAULTS;
        int slot = env.containsKey("MEMWALL_MPI_SLOT_MB")
                ? Math.toIntExact(Math.round(number(env, "MEMWALL_MPI_SLOT_MB", false) * (1 << 20) / 4)) : d.slotFloats;
        long timeout = env.containsKey("MEMWALL_COLLECTIVE_TIMEOUT_S")
                ? Math.round(number(env, "MEMWALL_COLLECTIVE_TIMEOUT_S", false) * 1000) : d.collectiveTimeoutMillis;
        long poll = env.containsKey("MEMWALL_MPI_POLL_US") ? Math.round(number(env, "MEMWALL_MPI_POLL_US", true)) : d.pollMaxMicros;
        return new MpiOptions(slot, timeout, poll);
    }

    private static double number(Map<String, String> env, String name, boolean zeroAllowed) {
        String v = env.get(name);
        try {
            double x = Double.parseDouble(v.trim());
            if (!(zeroAllowed ? x >= 0 : x > 0) || Double.isInfinite(x)) throw new NumberFormatException();
            return x;
        } catch (NumberFormatException e) {
            throw new JoinRefusedException(name + "='" + v + "' is not a " + (zeroAllowed ? "non-negative" : "positive") + " number");
        }
    }
}
