package dev.memwall.cli;

import com.fasterxml.jackson.databind.JsonNode;
import dev.memwall.kernels.Gemm;
import dev.memwall.kernels.Vectorization;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * One {@code train --json} in a child JVM for {@code compare-precision}, as {@code sweep} runs its trainings: its JSON
 * line and its loss per step (from the run's {@code --memory-report}, which records every step's loss).
 */
final class PrecisionTrainingRun {
    private PrecisionTrainingRun() {
    }

    /** The run's JSON (null when it failed), its loss per step and, when it failed, the last line it printed to stderr. */
    record Outcome(JsonNode json, List<Double> losses, String error) {
    }

    static Outcome train(List<String> trainArgs) throws Exception {
        Path out = Files.createTempFile("memwall-precision", ".out"), err = Files.createTempFile("memwall-precision", ".err");
        Path report = Files.createTempFile("memwall-precision", ".json");
        try {
            List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                    "-Xmx" + Math.max(256, Runtime.getRuntime().maxMemory() >> 20) + "m", "-XX:+UseParallelGC"));
            cmd.addAll(Vectorization.childJvmOptions());
            String gemm = System.getProperty(Gemm.PROPERTY);
            if (gemm != null) cmd.add("-D" + Gemm.PROPERTY + "=" + gemm);
            cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), Main.class.getName(), "train"));
            cmd.addAll(trainArgs);
            cmd.addAll(List.of("--json", "--memory-report", report.toString()));
            Process p = new ProcessBuilder(cmd).redirectOutput(out.toFile()).redirectError(err.toFile()).start();
            int code = p.waitFor();
            List<String> lines = Files.readAllLines(out, StandardCharsets.UTF_8);
            if (code != 0 || lines.isEmpty()) {
                List<String> e = Files.readAllLines(err, StandardCharsets.UTF_8);
                return new Outcome(null, List.of(), "exit " + code + (e.isEmpty() ? "" : ": " + e.get(e.size() - 1)));
            }
            List<Double> losses = new ArrayList<>();
            if (Files.size(report) > 0) {
                for (JsonNode step : Json.MAPPER.readTree(report.toFile()).path("steps")) losses.add(step.path("loss").asDouble(Double.NaN));
            }
            return new Outcome(Json.MAPPER.readTree(lines.get(lines.size() - 1)), losses, null);
        } finally {
            Files.deleteIfExists(out);
            Files.deleteIfExists(err);
            Files.deleteIfExists(report);
        }
    }
}
