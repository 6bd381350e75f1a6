package dev.memwall.cli;

import com.fasterxml.jackson.databind.JsonNode;
import dev.memwall.rng.Rng;
import dev.memwall.sharding.launch.LaunchResult;
import dev.memwall.sharding.launch.Launcher;
import dev.memwall.train.ZeroStage;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * One (stage, N) run of compare-sharding: N worker JVMs through {@link Launcher}, each running {@code train --zero S}
 * on the GPT benchmark model's shape (vocabulary 256, no dropout) over a file of uniformly random bytes, which gives
 * the same kind of batch as bench's random tokens and targets. {@code train} is the worker because it is where every
 * ZeRO stage is wired into the training step and where each rank reports its sharding figures ({@code --json}); a
 * stage added there appears here without change.
 */
final class ShardedTrainingRun {
    /** What one job measured: per rank the worst (largest) figure, since a job fits only if its largest rank fits. */
    record Measured(ZeroStage stage, int n, long params, long modelStateBytes, long peakTotalBytes, double stepMs,
                    long commBytesSent, long commBytesReceived, Double commHiddenFraction) {
        double modelStateFormula() {
            return stage.modelStateBytes(params, n);
        }

        double commFormula() {
            return stage.commBytesPerStep(params, n);
        }

        /** Bytes of the step other than model state (activations, workspace, communication buffers), as measured. */
        long restBytes() {
            return peakTotalBytes - modelStateBytes;
        }
    }

    /** How a job ended: its exit code, the measurement when every rank succeeded, and what the job printed. */
    record Outcome(int exitCode, Measured measured, String log) {
        boolean trained() {
            return exitCode == 0 && measured != null;
        }

        /** The last line the job printed that says what went wrong (out-of-memory advice, a failed rank). */
        String failure() {
            List<String> lines = Arrays.stream(log.split("\\R")).filter(l -> !l.isBlank()).toList();
            for (int i = lines.size() - 1; i >= 0; i--) if (lines.get(i).contains("memwall: ")) return lines.get(i).strip();
            return lines.isEmpty() ? "exit " + exitCode : lines.get(lines.size() - 1).strip();
        }
    }

    private final ModelOptions model;
    private final long seed;
    private final Path data;

    /** A run of {@code model}'s shape; the random data file is written now and removed by {@link #close}. */
    ShardedTrainingRun(ModelOptions model, long seed) throws IOException {
        this.model = model;
        this.seed = seed;
        // Both parts of train's 90/10 split must hold a window of ctx + 1 bytes; 64 KiB is plenty for usual shapes.
        int bytes = Math.max(1 << 16, 20 * (model.ctx + 1));
        byte[] random = new byte[bytes];
        Rng rng = new Rng(seed + 1);
        for (int i = 0; i < bytes; i++) random[i] = (byte) rng.nextInt(256);
        data = Files.createTempFile("memwall-compare-sharding-", ".bin");
        data.toFile().deleteOnExit(); // also when the command is stopped (SIGTERM, Ctrl-C) before close()
        Files.write(data, random);
    }

    /** The model's shape as train's options, for advice a user can run. */
    String shapeArgs() {
        return String.format("--layers %d --dim %d --heads %d --ctx %d --batch %d", model.layers, model.dim, model.heads, model.ctx,
                model.batch);
    }

    /** The worker's command line: {@code train} with the benchmark model's shape, bench's optimizer settings. */
    List<String> workerArgs(ZeroStage stage, int steps) {
        return new ArrayList<>(List.of("train", "--data", data.toString(), "--ctx", String.valueOf(model.ctx),
                "--layers", String.valueOf(model.layers), "--dim", String.valueOf(model.dim), "--heads", String.valueOf(model.heads),
                "--batch", String.valueOf(model.batch), "--steps", String.valueOf(steps), "--zero", String.valueOf(stage.number()),
                "--lr", "3e-4", "--warmup", "0", "--clip", "0", "--seed", String.valueOf(seed),
                "--eval-every", "0", "--eval-examples", "1", "--no-progress", "--json"));
    }

    /** Trains {@code steps} steps at {@code stage} on {@code n} workers, each with {@code heapBytes} of heap (null: inherited). */
    Outcome run(ZeroStage stage, int n, int steps, Long heapBytes) throws IOException, InterruptedException {
        return run(stage, n, steps, heapBytes, "shm");
    }

    /** As {@link #run(ZeroStage, int, int, Long)}, the workers started by memwall's launcher ("shm") or by mpirun ("mpi"). */
    Outcome run(ZeroStage stage, int n, int steps, Long heapBytes, String backend) throws IOException, InterruptedException {
        ByteArrayOutputStream log = new ByteArrayOutputStream();
        PrintStream sink = new PrintStream(log, true, StandardCharsets.UTF_8);
        LaunchResult r;
        if (backend.equals("mpi")) {
            r = MpirunJob.run(n, Main.class.getName(), workerArgs(stage, steps), heapBytes, sink);
        } else {
            Launcher.Builder b = Launcher.builder(Main.class.getName(), workerArgs(stage, steps)).nproc(n).collectJson(true).output(sink, sink);
            if (heapBytes != null) b.heap((heapBytes >> 20) + "m");
            r = b.build().run();
        }
        sink.flush();
        String text = log.toString(StandardCharsets.UTF_8);
        return new Outcome(r.exitCode(), r.exitCode() == 0 ? measured(stage, n, r) : null, text);
    }

    private static Measured measured(ZeroStage stage, int n, LaunchResult r) {
        long params = 0, state = 0, peak = 0, sent = 0, received = 0;
        double ms = 0, hiddenSum = 0;
        int hiddenCount = 0;
        for (LaunchResult.Rank rank : r.ranks()) {
            JsonNode j = rank.summary();
            if (j == null) throw new IllegalStateException("rank " + rank.rank() + " exited 0 without a JSON summary");
            params = j.get("params").asLong();
            state = Math.max(state, j.get("model_state_bytes").asLong());
            peak = Math.max(peak, j.path("peak_bytes").path("total").asLong());
            ms = Math.max(ms, j.path("step_ms_median").asDouble());
            sent = Math.max(sent, j.get("comm_bytes_sent_per_step").asLong());
            received = Math.max(received, j.get("comm_bytes_received_per_step").asLong());
            // A stage that overlaps its collectives with compute reports the share hidden; the others leave it out.
            JsonNode hidden = j.get("comm_hidden_fraction");
            if (hidden != null && hidden.isNumber()) {
                hiddenSum += hidden.asDouble();
                hiddenCount++;
            }
        }
        return new Measured(stage, n, params, state, peak, ms, sent, received, hiddenCount == 0 ? null : hiddenSum / hiddenCount);
    }

    void close() throws IOException {
        Files.deleteIfExists(data);
    }
}
