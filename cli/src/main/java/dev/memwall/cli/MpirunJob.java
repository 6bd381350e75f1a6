package dev.memwall.cli;

import com.fasterxml.jackson.databind.JsonNode;
import dev.memwall.sharding.launch.LaunchResult;
import dev.memwall.sharding.launch.Launcher;
import dev.memwall.sharding.mpi.MpiProcessGroup;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

/**
 * N worker JVMs started by Open MPI's {@code mpirun} instead of memwall's launcher (compare-sharding {@code --backend
 * mpi}): the same java, class path and JVM options, each rank's output in its own file ({@code --output-filename}),
 * read back as the launcher would report it. Every rank joins the MPI backend on its own.
 */
final class MpirunJob {
    private MpirunJob() {
    }

    /** Null when mpirun and the binding are there; else what is missing and what to install. */
    static String unavailable() {
        if (mpirun() == null) return "mpirun is not on the PATH (Debian/Ubuntu: apt-get install openmpi-bin libopenmpi-dev)";
        return MpiProcessGroup.unavailable();
    }

    static Path mpirun() {
        for (String dir : System.getenv().getOrDefault("PATH", "").split(":")) {
            if (dir.isEmpty()) continue;
            Path p = Path.of(dir, "mpirun");
            if (Files.isExecutable(p)) return p;
        }
        return null;
    }

    /**
     * Runs {@code mainClass args} on {@code n} ranks under mpirun and returns mpirun's exit code with each rank's last
     * JSON stdout line; everything else the job printed goes to {@code log}, rank-prefixed.
     */
    static LaunchResult run(int n, String mainClass, List<String> args, Long heapBytes, PrintStream log)
            throws IOException, InterruptedException {
        Path out = Files.createTempDirectory("memwall-mpirun-");
        try {
            List<String> cmd = new ArrayList<>(List.of(mpirun().toString()));
            if ("root".equals(System.getProperty("user.name"))) cmd.add("--allow-run-as-root");
            cmd.addAll(List.of("--oversubscribe", "-np", Integer.toString(n), "--output-filename", out.toString()));
            cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
            cmd.addAll(Launcher.inheritedJavaOptions());
            if (heapBytes != null) cmd.add("-Xmx" + (heapBytes >> 20) + "m");
            cmd.addAll(List.of("-cp", Launcher.currentClassPath(), mainClass));
            cmd.addAll(args);
            Path own = out.resolve("mpirun.log");
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(own.toFile()).start();
            int exit = p.waitFor();
            List<LaunchResult.Rank> ranks = new ArrayList<>();
            for (int r = 0; r < n; r++) {
                Path dir = out.resolve("1").resolve("rank." + r);
                JsonNode summary = null;
                for (String line : lines(dir.resolve("stdout"))) {
                    if (line.startsWith("{")) {
                        try {
                            summary = Json.MAPPER.readTree(line);
                        } catch (IOException e) {
                            log.println("[rank " + r + "] " + line);
                        }
                    } else if (!line.isBlank()) {
                        log.println("[rank " + r + "] " + line);
                    }
                }
                for (String line : lines(dir.resolve("stderr"))) log.println("[rank " + r + "] " + line);
                ranks.add(new LaunchResult.Rank(r, exit, false, summary));
            }
            for (String line : lines(own)) log.println(line);
            return new LaunchResult(exit, -1, exit == 0 ? null : "mpirun exited with status " + exit, ranks);
        } finally {
            try (Stream<Path> s = Files.walk(out)) {
                for (Path f : s.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(f);
            }
        }
    }

    private static List<String> lines(Path file) throws IOException {
        return Files.exists(file) ? Files.readAllLines(file, StandardCharsets.UTF_8) : List.of();
    }
}
