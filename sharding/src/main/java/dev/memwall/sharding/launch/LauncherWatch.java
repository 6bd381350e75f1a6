package dev.memwall.sharding.launch;

import java.util.Optional;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The worker's side of "nothing left running": a worker whose launcher dies without stopping it (SIGKILL, a crash
 * of its JVM) exits instead of running on, orphaned, for as long as its job would have. The launcher names itself in
 * {@code MEMWALL_LAUNCHER_PID}; a process whose parent is that launcher exits with status 1 when the parent does.
 * Processes started some other way, or started by a worker in turn, are not affected.
 */
public final class LauncherWatch {
    /** The environment variable with the launcher's pid. */
    public static final String LAUNCHER_PID = "MEMWALL_LAUNCHER_PID";
    private static final AtomicBoolean INSTALLED = new AtomicBoolean();

    private LauncherWatch() {
    }

    /** Starts watching the launcher if this process is one of its workers; returns whether it is. Idempotent. */
    public static boolean install() {
        String pid = System.getenv(LAUNCHER_PID);
        if (pid == null) return false;
        Optional<ProcessHandle> parent = ProcessHandle.current().parent();
        if (parent.isEmpty() || !String.valueOf(parent.get().pid()).equals(pid.trim())) return false;
        if (!INSTALLED.compareAndSet(false, true)) return true;
        // The handle carries the parent's start time, so a recycled pid does not count as the launcher still running.
        parent.get().onExit().thenRun(() -> {
            System.err.println("memwall: the launcher (pid " + pid.trim() + ") is gone; this worker stops");
            System.err.flush();
            System.exit(1);
        });
        return true;
    }
}
