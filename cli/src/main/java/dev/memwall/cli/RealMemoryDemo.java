package dev.memwall.cli;

import com.fasterxml.jackson.databind.JsonNode;
import dev.memwall.kernels.Gemm;
import dev.memwall.kernels.Vectorization;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The real-memory demonstration of compare-memory: the same training steps in child JVMs under one fixed heap limit
 * (-Xmx), one policy per child, so that what the tracker predicts is shown against what the JVM can actually hold.
 * Each child is {@code memwall bench} with the benchmark model's options; a child that runs out of heap prints
 * {@link OutOfMemoryAdvice}'s line and exits 1.
 */
final class RealMemoryDemo {
    /** How one child ended. {@code message} is its last line on stderr when it failed. */
    record Outcome(String checkpoint, long heapLimit, int exitCode, String message, String plan, Long peakTotalBytes,
                   Long jvmHeapPeakBytes) {
        boolean trained() {
            return exitCode == 0 && peakTotalBytes != null;
        }
    }

    private static final long TIMEOUT_MINUTES = 10;

    private RealMemoryDemo() {
    }

    /** Trains {@code steps} steps of the model under {@code checkpoint} in a child JVM with {@code heapLimit} bytes of heap. */
    static Outcome run(ModelOptions model, long seed, String checkpoint, long heapLimit, int steps) throws IOException, InterruptedException {
        long mib = (heapLimit + (1 << 20) - 1) >> 20;
        List<String> cmd = new ArrayList<>(List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx" + mib + "m", "-XX:+UseParallelGC"));
        cmd.addAll(Vectorization.childJvmOptions()); // the kernels this JVM runs, Vector API or scalar
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), Main.class.getName(),
                "bench", "--checkpoint", checkpoint, "--warmup", "0", "--steps", String.valueOf(steps), "--no-sgemm-peak",
                "--json", "--seed", String.valueOf(seed), "--layers", String.valueOf(model.layers), "--dim",
                String.valueOf(model.dim), "--heads", String.valueOf(model.heads), "--batch", String.valueOf(model.batch),
                "--ctx", String.valueOf(model.ctx)));
        String gemm = System.getProperty(Gemm.PROPERTY); // the child multiplies as this process does
        if (gemm != null) cmd.add(1, "-D" + Gemm.PROPERTY + "=" + gemm);
        Path out = Files.createTempFile("memwall-child", ".out"), err = Files.createTempFile("memwall-child", ".err");
        try {
            Process p = new ProcessBuilder(cmd).redirectOutput(out.toFile()).redirectError(err.toFile()).start();
            if (!p.waitFor(TIMEOUT_MINUTES, TimeUnit.MINUTES)) {
                p.destroyForcibly().waitFor();
                return new Outcome(checkpoint, mib << 20, -1, "did not finish within " + TIMEOUT_MINUTES + " minutes", null, null, null);
            }
            List<String> stdout = Files.readAllLines(out, StandardCharsets.UTF_8), stderr = Files.readAllLines(err, StandardCharsets.UTF_8);
            Long peak = null, heap = null;
            if (p.exitValue() == 0 && !stdout.isEmpty()) {
                JsonNode j = Json.MAPPER.readTree(stdout.get(stdout.size() - 1));
                peak = j.path("peak_bytes").path("total").asLong();
                heap = j.path("jvm_heap_peak_bytes").asLong();
            }
            String message = stderr.isEmpty() ? "" : stderr.get(stderr.size() - 1);
            String plan = null;
            for (String line : stderr) if (line.startsWith(CheckpointOption.PLAN_PREFIX)) plan = line.substring(CheckpointOption.PLAN_PREFIX.length());
            return new Outcome(checkpoint, mib << 20, p.exitValue(), p.exitValue() == 0 ? "" : message, plan, peak, heap);
        } finally {
            Files.deleteIfExists(out);
            Files.deleteIfExists(err);
        }
    }
}
