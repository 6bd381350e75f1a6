package dev.memwall.sharding.launch;

import java.util.Map;

/**
 * Words for a worker's exit status. {@link Process#exitValue()} reports a process killed by signal S as 128 + S, as
 * shells do, so a status above 128 is read as a signal (a worker that called {@code System.exit(137)} looks the same).
 */
public final class ExitStatus {
    private static final Map<Integer, String> NAMES = Map.ofEntries(Map.entry(1, "SIGHUP"), Map.entry(2, "SIGINT"),
            Map.entry(3, "SIGQUIT"), Map.entry(4, "SIGILL"), Map.entry(5, "SIGTRAP"), Map.entry(6, "SIGABRT"),
            Map.entry(7, "SIGBUS"), Map.entry(8, "SIGFPE"), Map.entry(9, "SIGKILL"), Map.entry(10, "SIGUSR1"),
            Map.entry(11, "SIGSEGV"), Map.entry(12, "SIGUSR2"), Map.entry(13, "SIGPIPE"), Map.entry(14, "SIGALRM"),
            Map.entry(15, "SIGTERM"));

    private ExitStatus() {
    }

    /** The signal that ended a process with this status, or 0 when the status is an ordinary exit code. */
    public static int signal(int status) {
        return status > 128 && status < 128 + 65 ? status - 128 : 0;
    }

    /** "status 3", or "status 137 (killed by SIGKILL)". */
    public static String describe(int status) {
        int signal = signal(status);
        if (signal == 0) return "status " + status;
        return "status " + status + " (killed by " + NAMES.getOrDefault(signal, "signal " + signal) + ")";
    }
}
