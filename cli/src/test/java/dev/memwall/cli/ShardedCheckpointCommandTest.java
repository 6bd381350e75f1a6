package dev.memwall.cli;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@code train --save}/{@code --resume} across world sizes as the launcher runs them (one JVM per rank), and
 * {@code consolidate}: a two-rank checkpoint resumes in one process and a one-process checkpoint on two ranks, each
 * continuing as the one-process run does, and a stage-2 checkpoint resumes at any stage; the consolidated weights
 * are the checkpoint's model for {@code eval}.
 */
@Timeout(900)
class ShardedCheckpointCommandTest {
    /** ShardedTrainCommandTest's small model at stage 1, with --steps left to each call. */
    static final String[] RUN = {"train", "--dim", "32", "--layers", "1", "--heads", "2", "--digits", "2", "--eval-every", "0",
            "--eval-examples", "32", "--no-progress", "--json", "--batch", "8", "--zero", "1"};

    static JsonNode single(String... more) {
        CliRunner.Result r = CliRunner.run(CliRunner.args(RUN, more));
        assertThat(r.exit()).as("%s", r).isZero();
        return r.lastJson();
    }

    static JsonNode twoRanks(String... more) throws Exception {
        List<JsonNode> ranks = ShardedTrainCommandTest.workers(2, CliRunner.args(RUN, more));
        assertThat(ranks.get(1).get("final_loss")).isEqualTo(ranks.get(0).get("final_loss"));
        return ranks.get(0);
    }

    /** Same losses to the 1e-5 that one process and two ranks agree to (different GEMM row splits). */
    static void assertSameRun(JsonNode expected, JsonNode got, String what) {
        assertThat(got.get("steps").asInt()).as(what).isEqualTo(expected.get("steps").asInt());
        for (String k : new String[]{"final_loss", "eval_loss"}) {
            double e = expected.get(k).asDouble();
            assertThat(Math.abs(got.get(k).asDouble() - e)).as("%s %s: %s vs %s", what, k, got.get(k), e).isLessThanOrEqualTo(1e-5 * e);
        }
    }

    @Test
    void checkpointsMoveBetweenOneProcessAndTwoRanks(@TempDir Path dir) throws Exception {
        Path ones = dir.resolve("one"), twos = dir.resolve("two");
        single("--steps", "4", "--save", ones.toString());
        JsonNode reference = single("--resume", ones.toString(), "--steps", "8");

        twoRanks("--steps", "4", "--save", twos.toString());
        JsonNode manifest = CliRunner.MAPPER.readTree(twos.resolve("step-000004/state.json").toFile());
        assertThat(manifest.get("world_size").asInt()).isEqualTo(2);
        assertThat(manifest.get("shards")).hasSize(2);
        CliRunner.Result resumed = CliRunner.run(CliRunner.args(RUN, "--resume", twos.toString(), "--steps", "8"));
        assertThat(resumed.exit()).as("%s", resumed).isZero();
        assertThat(resumed.err()).contains("resharded: saved by 2 rank(s) at ZeRO stage 1, resumed by 1 at stage 1");
        assertSameRun(reference, resumed.lastJson(), "saved on 2 ranks, resumed in one process");

        assertSameRun(reference, twoRanks("--resume", ones.toString(), "--steps", "8"), "saved in one process, resumed on 2 ranks");
    }

    /**
     * {@code --zero 2} saves and resumes: the step-4 checkpoint of a two-rank stage-2 run, resumed on two stage-2 ranks,
     * ends as that run did at step 8 (the same bits: equal JSON numbers); resumed in one process at stage 1 they reshard
     * and train as that process does; {@code consolidate} reads the stage-2 checkpoint.
     */
    @Test
    void stageTwoCheckpointsResumeAndConsolidate(@TempDir Path dir) throws Exception {
        String[] run1 = RUN.clone(), run2;
        run1[List.of(RUN).indexOf("--eval-every") + 1] = "4"; // also saves at step 4
        run2 = run1.clone();
        run2[run2.length - 1] = "2"; // --zero 2
        Path all = dir.resolve("all"), twos = dir.resolve("two"), out = dir.resolve("model.safetensors");
        // the run that never stopped, saving at steps 4 and 8; its step-4 checkpoint, alone in a run directory, is resumed
        List<JsonNode> straight = ShardedTrainCommandTest.workers(2, CliRunner.args(run2, "--steps", "8", "--save", all.toString()));
        Files.createDirectories(twos.resolve("step-000004"));
        try (var files = Files.list(all.resolve("step-000004"))) {
            for (Path f : files.toList()) Files.copy(f, twos.resolve("step-000004").resolve(f.getFileName()));
        }
        Files.writeString(twos.resolve("latest"), "step-000004\n");
        JsonNode manifest = CliRunner.MAPPER.readTree(twos.resolve("step-000004/state.json").toFile());
        assertThat(List.of(manifest.get("world_size").asInt(), manifest.get("zero_stage").asInt(), manifest.get("shards").size()))
                .isEqualTo(List.of(2, 2, 2));
        List<JsonNode> resumed = ShardedTrainCommandTest.workers(2, CliRunner.args(run2, "--resume", twos.toString(), "--steps", "8"));
        for (int r = 0; r < 2; r++) {
            for (String k : new String[]{"steps", "final_loss", "eval_loss", "eval_accuracy"}) {
                assertThat(resumed.get(r).get(k)).as("rank %d %s", r, k).isEqualTo(straight.get(r).get(k));
            }
        }
        CliRunner.Result one = CliRunner.run(CliRunner.args(run1, "--resume", twos.toString(), "--steps", "8"));
        assertThat(one.exit()).as("%s", one).isZero();
        assertThat(one.err()).contains("resharded: saved by 2 rank(s) at ZeRO stage 2, resumed by 1 at stage 1");
        assertSameRun(straight.get(0), one.lastJson(), "saved on 2 ranks at stage 2, resumed in one process at stage 1");

        CliRunner.Result c = CliRunner.run("consolidate", twos.toString(), "--out", out.toString());
        assertThat(c.exit()).as("%s", c).isZero();
        assertThat(c.err()).contains("saved by 2 rank(s) at ZeRO stage 2");
        try (var file = dev.memwall.io.SafeTensors.read(out); var saved = dev.memwall.io.SafeTensors.read(twos.resolve("step-000004/model.safetensors"))) {
            assertThat(file.tensors().keySet()).isEqualTo(saved.tensors().keySet());
            file.tensors().forEach((k, t) -> assertThat(t.toFloatArray()).as(k).isEqualTo(saved.tensors().get(k).toFloatArray()));
        }
    }

    @Test
    void consolidatedWeightsAreTheCheckpointsModelForEval(@TempDir Path dir) throws Exception {
        Path run = dir.resolve("run"), out = dir.resolve("model.safetensors"), data = dir.resolve("data.bin");
        twoRanks("--steps", "4", "--save", run.toString());
        CliRunner.Result c = CliRunner.run("consolidate", run.toString(), "--out", out.toString());
        assertThat(c.exit()).as("%s", c).isZero();
        assertThat(c.err()).contains("saved by 2 rank(s) at ZeRO stage 1");
        TinyGptFiles.writeRandomBytes(data, 2000, 256, 3);
        JsonNode fromRun = eval(data, "--weights", run.toString());
        String ctx = CliRunner.MAPPER.readTree(run.resolve("step-000004/state.json").toFile()).path("config").path("context").asText();
        JsonNode fromFile = eval(data, "--weights", out.toString(), "--heads", "2", "--ctx", ctx);
        assertThat(fromFile.get("loss")).isEqualTo(fromRun.get("loss"));
        assertThat(fromFile.get("grad_norm")).isEqualTo(fromRun.get("grad_norm"));
        var header = dev.memwall.io.SafeTensors.inspect(out);
        assertThat(header.metadata()).containsEntry("format", "pt");
        assertThat(header.entries().stream().map(e -> e.name())).contains("tok.weight", "pos.weight", "blocks.0.qkv.weight");
    }

    static JsonNode eval(Path data, String... more) {
        CliRunner.Result r = CliRunner.run(CliRunner.args(new String[]{"eval", "--data", data.toString(), "--json", "--batches", "2"}, more));
        assertThat(r.exit()).as("%s", r).isZero();
        return r.lastJson();
    }

    @Test
    void consolidateRefusesBadInputNamingTheFileAndWritesNothing(@TempDir Path dir) throws Exception {
        Path run = dir.resolve("run"), out = dir.resolve("model.safetensors");
        single("--steps", "4", "--save", run.toString());
        Path step = run.resolve("step-000004"), opt = step.resolve("optimizer.safetensors");
        byte[] good = Files.readAllBytes(opt);

        Files.write(opt, Arrays.copyOf(good, good.length - 1));
        expectRefusal(run, out, opt + ": " + (good.length - 1) + " bytes, but");
        byte[] flipped = good.clone();
        flipped[flipped.length - 1] ^= 1;
        Files.write(opt, flipped);
        expectRefusal(run, out, opt + ": content does not match the SHA-256");
        Files.delete(opt);
        expectRefusal(run, out, opt + ": missing");
        Files.write(opt, good);
        Files.writeString(step.resolve("state.json"), "{");
        expectRefusal(run, out, step.resolve("state.json") + ": not valid JSON");
        expectRefusal(dir.resolve("nothing"), out, dir.resolve("nothing") + ": not a train --save run or step directory");

        Files.writeString(out, "previous content");
        expectRefusal(run, out, "state.json");
        assertThat(Files.readString(out)).as("a failed consolidate leaves the old file").isEqualTo("previous content");
        try (var s = Files.list(dir)) {
            assertThat(s.map(p -> p.getFileName().toString())).as("no temporary file left").containsExactlyInAnyOrder("run", "model.safetensors");
        }
    }

    private static void expectRefusal(Path run, Path out, String message) throws IOException {
        boolean existed = Files.exists(out);
        CliRunner.Result r = CliRunner.run("consolidate", run.toString(), "--out", out.toString());
        assertThat(r.exit()).as("%s", r).isEqualTo(1);
        assertThat(r.err()).as("%s", r).contains(message);
        if (!existed) assertThat(out).doesNotExist();
    }
}
