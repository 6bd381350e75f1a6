package dev.memwall.sharding.mpi;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Starts a Java main class on N ranks with Open MPI's {@code mpirun} (as root where the tests run as root), on this
 * JVM's class path, and collects what it printed. Tests call {@link #assumeAvailable()} first, so a machine without
 * Open MPI or without the binding skips them rather than failing.
 */
final class MpiRun {
    private MpiRun() {
    }

    /** Skips the calling test unless mpirun is on the PATH and the binding loads. */
    static void assumeAvailable() {
        assumeTrue(mpirun() != null, "mpirun is not installed (Debian: apt-get install openmpi-bin libopenmpi-dev)");
        String missing = MpiProcessGroup.unavailable();
        assumeTrue(missing == null, missing);
    }

    static Path mpirun() {
        for (String dir : System.getenv().getOrDefault("PATH", "").split(":")) {
            Path p = Path.of(dir, "mpirun");
            if (Files.isExecutable(p)) return p;
        }
        return null;
    }

    /** The result of one mpirun: its exit status, output (stdout then stderr) and wall time. */
    record Result(int exit, String stdout, String stderr, double seconds) {
    }

    /**
     * {@code mpirun -np n [mpiOptions] java ... mainClass args}, killed after {@code timeoutSeconds} (the test then
     * fails on the exit status -1).
     */
    static Result run(int n, List<String> mpiOptions, String mainClass, List<String> args, long timeoutSeconds)
            throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of(mpirun().toString(), "--oversubscribe", "-np", Integer.toString(n)));
        if ("root".equals(System.getProperty("user.name"))) cmd.add(1, "--allow-run-as-root");
        cmd.addAll(mpiOptions);
        cmd.addAll(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Xmx256m",
                "-XX:+UseSerialGC", "-cp", System.getProperty("java.class.path"), mainClass));
        cmd.addAll(args);
        Path out = Files.createTempFile("mpirun", ".out"), err = Files.createTempFile("mpirun", ".err");
        try {
            long start = System.nanoTime();
            Process p = new ProcessBuilder(cmd).redirectOutput(out.toFile()).redirectError(err.toFile()).start();
            boolean ended = p.waitFor(timeoutSeconds, TimeUnit.SECONDS);
            if (!ended) {
                p.destroy(); // mpirun forwards SIGTERM to its ranks
                if (!p.waitFor(10, TimeUnit.SECONDS)) p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            }
            double seconds = (System.nanoTime() - start) / 1e9;
            return new Result(ended ? p.exitValue() : -1, Files.readString(out, StandardCharsets.UTF_8),
                    Files.readString(err, StandardCharsets.UTF_8), seconds);
        } finally {
            Files.deleteIfExists(out);
            Files.deleteIfExists(err);
        }
    }
}
