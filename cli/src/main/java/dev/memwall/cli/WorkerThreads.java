package dev.memwall.cli;

import dev.memwall.sharding.launch.Launcher;

import java.util.Map;

/**
 * Kernel threads of a worker process: when the launcher starts N workers on one machine (WORLD_SIZE = N > 1), or
 * mpirun starts N ranks on this machine (OMPI_COMM_WORLD_LOCAL_SIZE = N > 1), each
 * uses {@link Launcher#kernelThreads max(1, cores / N)} threads for its kernels ({@code dev.memwall.kernels.Parallel}, property
 * {@code memwall.threads}) unless that property is set, so N workers do not each try to use every core.
 */
final class WorkerThreads {
    static final String PROPERTY = "memwall.threads";

    private WorkerThreads() {
    }

    /** Sets {@value #PROPERTY} for a worker; must run before any kernel does (Parallel reads it once). */
    static void configure(Map<String, String> env) {
        String threads = threadsFor(env, Runtime.getRuntime().availableProcessors(), System.getProperty(PROPERTY));
        if (threads != null) System.setProperty(PROPERTY, threads);
    }

    /** The value to set, or null to leave the property alone (single process, set explicitly, or no usable WORLD_SIZE). */
    static String threadsFor(Map<String, String> env, int cores, String explicit) {
        if (explicit != null) return null;
        String ws = env.get("WORLD_SIZE");
        // under mpirun, the ranks sharing this machine's cores are OMPI_COMM_WORLD_LOCAL_SIZE, not the whole world
        if (ws == null) ws = env.get("OMPI_COMM_WORLD_LOCAL_SIZE");
        if (ws == null) return null;
        int n;
        try {
            n = Integer.parseInt(ws.trim());
        } catch (NumberFormatException e) {
            return null; // joining the group reports the bad value, naming it
        }
        return n > 1 ? Integer.toString(Launcher.kernelThreads(cores, n)) : null;
    }
}
