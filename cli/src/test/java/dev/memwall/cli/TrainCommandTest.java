package dev.memwall.cli;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;

/** {@code memwall train} end to end on tiny models: JSON, memory report and charts, --data, save and resume. */
class TrainCommandTest {
    /** Small and fast; the addition task with its default 3 digits. */
    static final String[] SMALL = {"train", "--steps", "3", "--dim", "16", "--layers", "1", "--heads", "2", "--batch", "4",
            "--eval-examples", "8", "--eval-every", "0", "--no-progress"};
    static final String[] CATEGORIES = {"parameter", "gradient", "optimizer_state", "activation", "temporary", "communication", "workspace", "kv_cache", "total"};

    @TempDir
    Path dir;

    private static CliRunner.Result ok(String... args) {
        CliRunner.Result r = CliRunner.run(args);
        assertThat(r.exit()).as("%s", r).isZero();
        return r;
    }

    /** Replaces the value of {@code option} in {@code args} (which must hold it). */
    private static String[] with(String[] args, String option, String value) {
        String[] a = args.clone();
        for (int i = 0; i < a.length - 1; i++) {
            if (a[i].equals(option)) {
                a[i + 1] = value;
                return a;
            }
        }
        throw new IllegalArgumentException(option);
    }

    @Test
    void plainRunExitsZeroAndPrintsTheMemoryTable() {
        CliRunner.Result r = ok(SMALL);
        assertThat(r.err()).contains("addition task").contains("peak MiB").contains("optimizer_state");
        assertThat(r.out()).doesNotContain("{");
    }

    @Test
    void jsonIsTheLastLineOfStdout() {
        CliRunner.Result r = ok(CliRunner.args(SMALL, "--json"));
        JsonNode j = r.lastJson();
        assertThat(j.has("steps") && j.has("final_loss") && j.has("eval_loss") && j.has("eval_accuracy")
                && j.has("tokens_per_s") && j.has("peak_bytes")).as("%s", j).isTrue();
        assertThat(j.get("steps").asInt()).isEqualTo(3);
        assertThat(j.get("final_loss").isNumber()).as("%s", j).isTrue();
        assertThat(j.get("final_loss").asDouble()).isBetween(0.5, 10.0);
        assertThat(j.get("eval_loss").isNumber()).as("%s", j).isTrue();
        assertThat(j.get("eval_loss").asDouble()).isBetween(0.5, 10.0);
        assertThat(j.get("eval_accuracy").asDouble()).isBetween(0.0, 1.0);
        assertThat(j.get("tokens_per_s").asLong()).isPositive();
        assertThat(j.get("train_seconds").asDouble()).as("%s", j).isPositive();
        // the median of the 3 steps' times is one of them, so positive and at most their sum (rounded to 1 ms there)
        assertThat(j.get("step_ms_median").asDouble()).as("%s", j).isPositive().isLessThanOrEqualTo(j.get("train_seconds").asDouble() * 1000 + 1);
        JsonNode peak = j.get("peak_bytes");
        for (String c : CATEGORIES) assertThat(peak.has(c)).as("peak_bytes.%s in %s", c, peak).isTrue();
        for (String c : new String[]{"parameter", "gradient", "optimizer_state", "activation", "total"}) {
            assertThat(peak.get(c).asLong()).as("peak_bytes.%s", c).isPositive();
        }
        long sum = 0;
        for (String c : CATEGORIES) if (!c.equals("total")) sum += peak.get(c).asLong();
        assertThat(peak.get("total").asLong()).as("total peak is at most the sum of the category peaks").isLessThanOrEqualTo(sum);
        assertThat(peak.get("total").asLong()).isGreaterThanOrEqualTo(peak.get("activation").asLong());
        // The model: 11,712 FP32 parameters, AdamW keeps two moments.
        assertThat(peak.get("parameter").asLong()).isEqualTo(4L * 11_712);
        assertThat(peak.get("optimizer_state").asLong()).isEqualTo(2 * 4L * 11_712);
    }

    @Test
    void memoryReportIsValidJson() throws IOException {
        Path report = dir.resolve("r.json");
        ok(CliRunner.args(SMALL, "--memory-report", report.toString()));
        JsonNode m = CliRunner.MAPPER.readTree(report.toFile());
        for (String c : CATEGORIES) assertThat(m.path("peak_bytes").has(c)).as("peak_bytes.%s", c).isTrue();
        JsonNode steps = m.get("steps");
        assertThat(steps.isArray()).isTrue();
        assertThat(steps.size()).isEqualTo(3);
        for (int i = 0; i < 3; i++) {
            assertThat(steps.get(i).get("step").asInt()).isEqualTo(i + 1);
            assertThat(steps.get(i).get("loss").isNumber()).isTrue();
            assertThat(steps.get(i).path("peak_bytes").path("total").asLong()).isPositive();
        }
        JsonNode events = m.path("timeline").path("events");
        assertThat(events.isArray()).isTrue();
        assertThat(events.size()).isPositive();
        Set<String> phases = new HashSet<>();
        for (JsonNode e : events) {
            phases.add(e.get("phase").asText());
            assertThat(e.has("op") && e.has("category") && e.has("delta_bytes")).as("%s", e).isTrue();
            assertThat(e.get("total_bytes").asLong()).as("%s", e).isNotNegative();
        }
        assertThat(phases).contains("forward", "backward");
        assertThat(m.path("timeline").path("step").asInt()).isEqualTo(3);
    }

    @Test
    void pngChart() throws IOException {
        Path png = dir.resolve("c.png");
        ok(CliRunner.args(SMALL, "--memory-chart", png.toString()));
        byte[] b = Files.readAllBytes(png);
        assertThat(b.length).isGreaterThan(1000);
        assertThat(java.util.Arrays.copyOf(b, 8)).containsExactly(0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A);
    }

    @Test
    void svgChart() throws IOException {
        Path svg = dir.resolve("c.svg");
        ok(CliRunner.args(SMALL, "--memory-chart", svg.toString()));
        String s = Files.readString(svg, StandardCharsets.UTF_8);
        assertThat(s).contains("<svg").contains("</svg>");
    }

    private static void writeText(Path file, int words, long seed) throws IOException {
        String[] vocab = {"the", "cat", "sat", "on", "a", "mat", "memory", "wall", "and", "then", "ran", "away."};
        Random r = new Random(seed);
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < words; i++) sb.append(vocab[r.nextInt(vocab.length)]).append(i % 13 == 12 ? '\n' : ' ');
        Files.writeString(file, sb, StandardCharsets.UTF_8);
    }

    @Test
    void trainsOnAGivenTextFile() throws IOException {
        Path text = dir.resolve("corpus.txt");
        writeText(text, 5000, 1); // ~22 KB: the 10 % eval part holds > 64 windows of 16
        CliRunner.Result r = ok(CliRunner.args(SMALL, "--data", text.toString(), "--ctx", "16", "--json"));
        assertThat(r.err()).contains("byte LM").contains("corpus.txt");
        JsonNode j = r.lastJson();
        assertThat(j.get("steps").asInt()).isEqualTo(3);
        assertThat(j.has("eval_accuracy")).as("no exact-match accuracy for a byte LM").isFalse();
        assertThat(j.get("final_loss").asDouble()).isBetween(3.0, 7.0); // about ln 256 ≈ 5.5 after 3 steps
        assertThat(j.get("eval_loss").isNumber()).as("%s", j).isTrue();
        assertThat(j.get("eval_loss").asDouble()).isBetween(3.0, 7.0);
    }

    /**
     * Evaluation batches are no larger than --eval-examples and the held-out windows: here the eval part holds 21
     * windows of 16 bytes and 8 are asked for, so there is an eval loss (batches of a fixed 64 windows gave NaN).
     */
    @Test
    void smallTextFileStillGetsAnEvalLoss() throws IOException {
        Path text = dir.resolve("small.txt");
        writeText(text, 800, 2); // ~3.5 KB: eval part ~350 bytes = ~21 windows of 16
        CliRunner.Result r = ok(CliRunner.args(SMALL, "--data", text.toString(), "--ctx", "16", "--json"));
        JsonNode j = r.lastJson();
        assertThat(j.get("eval_loss").isNumber()).as("eval_loss with --eval-examples 8 on 21 held-out windows: %s", j).isTrue();
    }

    /**
     * The sample completion printed at the end uses operands with --digits digits: fixed 3-digit operands made every
     * run with --digits 1 or 2 fail after training ("operand 123 is not a 2-digit number").
     */
    @Test
    void twoDigitAdditionRunCompletes() {
        CliRunner.Result r = CliRunner.run(CliRunner.args(with(SMALL, "--steps", "1"), "--digits", "2", "--json"));
        assertThat(r.exit()).as("%s", r).isZero();
        assertThat(r.lastJson().get("steps").asInt()).isEqualTo(1);
    }

    /**
     * Bit-identical resume: a 6-step run saves at steps 3 and 6; a second run resumed from a copy of the step-3
     * checkpoint alone, with the same settings, must end with the same loss, eval figures and byte-identical weights
     * and optimizer state. (Resuming a finished 3-step run with --steps 6 is a different run: the warm-up/cosine
     * schedule is built from --steps, so its first 3 steps had other learning rates; see the next test.)
     */
    @Test
    void resumeFromAnInterruptedRunIsBitIdentical() throws IOException {
        Path full = dir.resolve("full"), resumed = dir.resolve("resumed");
        String[] six = CliRunner.args(with(with(SMALL, "--steps", "6"), "--eval-every", "3"), "--json");
        JsonNode a = ok(CliRunner.args(six, "--save", full.toString())).lastJson();
        assertThat(Files.readString(full.resolve("latest")).trim()).isEqualTo("step-000006");
        assertThat(full.resolve("step-000003")).isDirectory();

        // Checkpoint saving and evaluating do not disturb training: a plain 6-step run ends the same.
        JsonNode plain = ok(CliRunner.args(with(SMALL, "--steps", "6"), "--json")).lastJson();
        assertThat(plain.get("final_loss").asDouble()).isEqualTo(a.get("final_loss").asDouble());
        assertThat(plain.get("eval_loss").asDouble()).isEqualTo(a.get("eval_loss").asDouble());

        // A directory holding only the step-3 checkpoint, as a run killed between steps 3 and 6 leaves it.
        Path src = full.resolve("step-000003"), dst = Files.createDirectories(resumed.resolve("step-000003"));
        try (var files = Files.list(src)) {
            for (Path f : (Iterable<Path>) files::iterator) Files.copy(f, dst.resolve(f.getFileName()));
        }
        Files.writeString(resumed.resolve("latest"), "step-000003\n");

        CliRunner.Result r = ok(CliRunner.args(six, "--resume", resumed.toString(), "--save", resumed.toString()));
        assertThat(r.err()).contains("at step 3");
        JsonNode b = r.lastJson();
        assertThat(b.get("steps").asInt()).isEqualTo(6);
        assertThat(b.get("final_loss").asDouble()).as("final_loss").isEqualTo(a.get("final_loss").asDouble());
        assertThat(b.get("eval_loss").asDouble()).as("eval_loss").isEqualTo(a.get("eval_loss").asDouble());
        assertThat(b.get("eval_accuracy").asDouble()).isEqualTo(a.get("eval_accuracy").asDouble());
        assertThat(b.get("evals").size()).as("only the step-6 evaluation is left to do").isEqualTo(1);
        assertThat(b.get("evals").get(0)).isEqualTo(a.get("evals").get(1));
        for (String f : new String[]{"model.safetensors", "optimizer.safetensors"}) {
            assertThat(Files.readAllBytes(resumed.resolve("step-000006").resolve(f)))
                    .as("%s after resuming", f).isEqualTo(Files.readAllBytes(full.resolve("step-000006").resolve(f)));
        }
        JsonNode sa = CliRunner.MAPPER.readTree(full.resolve("step-000006/state.json").toFile());
        JsonNode sb = CliRunner.MAPPER.readTree(resumed.resolve("step-000006/state.json").toFile());
        assertThat(sb.get("rng")).isEqualTo(sa.get("rng"));
        assertThat(sb.get("lr")).isEqualTo(sa.get("lr"));
        assertThat(sb.get("optimizer_step")).isEqualTo(sa.get("optimizer_step"));
    }

    /** --save at the end of a 3-step run, then --resume with --steps 6 continues at step 4. */
    @Test
    void resumeContinuesAFinishedRun() throws IOException {
        Path ck = dir.resolve("ck"), report = dir.resolve("resumed-report.json");
        JsonNode first = ok(CliRunner.args(SMALL, "--save", ck.toString(), "--json")).lastJson();
        assertThat(first.get("steps").asInt()).isEqualTo(3);
        assertThat(Files.readString(ck.resolve("latest")).trim()).isEqualTo("step-000003");

        CliRunner.Result r = ok(CliRunner.args(with(SMALL, "--steps", "6"), "--resume", ck.toString(), "--json",
                "--memory-report", report.toString()));
        assertThat(r.err()).contains("resumed from").contains("at step 3");
        JsonNode j = r.lastJson();
        assertThat(j.get("steps").asInt()).isEqualTo(6);
        assertThat(j.get("final_loss").isNumber()).isTrue();
        List<Integer> steps = new ArrayList<>();
        for (JsonNode s : CliRunner.MAPPER.readTree(report.toFile()).get("steps")) steps.add(s.get("step").asInt());
        assertThat(steps).containsExactly(4, 5, 6);

        // Resuming a run that is already complete takes no step and still ends with a JSON line.
        r = ok(CliRunner.args(SMALL, "--resume", ck.toString(), "--json"));
        assertThat(r.lastJson().get("steps").asInt()).isEqualTo(3);
    }

    /**
     * Two identical runs in one JVM, started under one tracker, report the same figures: each {@link Main#run} counts
     * in a tracker of its own, so one run's model, flat buffers and optimizer state never count in the next run's
     * peak_bytes (they once did, doubling the parameter bytes with every run).
     */
    @Test
    void memoryFiguresDoNotIncludeEarlierRunsInTheSameJvm() {
        try (var fresh = dev.memwall.memory.MemoryTracker.install(new dev.memwall.memory.MemoryTracker())) {
            CliRunner.Result first = CliRunner.runInCurrentTracker(CliRunner.args(SMALL, "--json"));
            CliRunner.Result second = CliRunner.runInCurrentTracker(CliRunner.args(SMALL, "--json"));
            assertThat(first.exit()).as("%s", first).isZero();
            assertThat(second.exit()).as("%s", second).isZero();
            JsonNode a = first.lastJson().get("peak_bytes"), b = second.lastJson().get("peak_bytes");
            assertThat(a.get("parameter").asLong()).isEqualTo(4L * 11_712);
            assertThat(b.get("parameter").asLong()).as("second run's parameter bytes").isEqualTo(a.get("parameter").asLong());
            assertThat(b.get("optimizer_state").asLong()).as("second run's optimizer bytes").isEqualTo(a.get("optimizer_state").asLong());
            assertThat(b.get("total").asLong()).as("second run's total").isEqualTo(a.get("total").asLong());
        }
    }
}
