package dev.memwall.cli;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@code launch --nproc 2 train --zero 3 --save} then {@code --resume}: the step-4 checkpoint of a two-rank stage-3
 * run, resumed on two stage-3 ranks, ends as that run did at step 8 (the same bits: equal JSON numbers); resumed in
 * one process at stage 1 it reshards and trains as that process does; {@code consolidate} reads it.
 */
@Timeout(900)
class StageThreeCheckpointCommandTest {
    @Test
    void stageThreeCheckpointsResumeAndConsolidate(@TempDir Path dir) throws Exception {
        String[] run1 = ShardedCheckpointCommandTest.RUN.clone(), run3;
        run1[List.of(run1).indexOf("--eval-every") + 1] = "4"; // also saves at step 4
        run3 = run1.clone();
        run3[run3.length - 1] = "3"; // --zero 3
        Path all = dir.resolve("all"), twos = dir.resolve("two"), out = dir.resolve("model.safetensors");
        List<JsonNode> straight = launch(CliRunner.args(run3, "--steps", "8", "--save", all.toString()));
        // its step-4 checkpoint, alone in a run directory, is resumed
        Files.createDirectories(twos.resolve("step-000004"));
        try (var files = Files.list(all.resolve("step-000004"))) {
            for (Path f : files.toList()) Files.copy(f, twos.resolve("step-000004").resolve(f.getFileName()));
        }
        Files.writeString(twos.resolve("latest"), "step-000004\n");
        JsonNode manifest = CliRunner.MAPPER.readTree(twos.resolve("step-000004/state.json").toFile());
        assertThat(List.of(manifest.get("world_size").asInt(), manifest.get("zero_stage").asInt(), manifest.get("shards").size()))
                .isEqualTo(List.of(2, 3, 2));
        List<JsonNode> resumed = launch(CliRunner.args(run3, "--resume", twos.toString(), "--steps", "8"));
        for (int r = 0; r < 2; r++) {
            for (String k : new String[]{"steps", "final_loss", "eval_loss", "eval_accuracy"}) {
                assertThat(resumed.get(r).get(k)).as("rank %d %s", r, k).isEqualTo(straight.get(r).get(k));
            }
        }
        CliRunner.Result one = CliRunner.run(CliRunner.args(run1, "--resume", twos.toString(), "--steps", "8"));
        assertThat(one.exit()).as("%s", one).isZero();
        assertThat(one.err()).contains("resharded: saved by 2 rank(s) at ZeRO stage 3, resumed by 1 at stage 1");
        ShardedCheckpointCommandTest.assertSameRun(straight.get(0), one.lastJson(), "saved on 2 ranks at stage 3, resumed in one process at stage 1");

        CliRunner.Result c = CliRunner.run("consolidate", twos.toString(), "--out", out.toString());
        assertThat(c.exit()).as("%s", c).isZero();
        assertThat(c.err()).contains("saved by 2 rank(s) at ZeRO stage 3");
        try (var file = dev.memwall.io.SafeTensors.read(out); var saved = dev.memwall.io.SafeTensors.read(twos.resolve("step-000004/model.safetensors"))) {
            assertThat(file.tensors().keySet()).isEqualTo(saved.tensors().keySet());
            file.tensors().forEach((k, t) -> assertThat(t.toFloatArray()).as(k).isEqualTo(saved.tensors().get(k).toFloatArray()));
        }
    }

    /** Runs {@code launch --nproc 2 ARGS} and returns each rank's summary, in rank order. */
    private static List<JsonNode> launch(String[] args) {
        CliRunner.Result r = CliRunner.run(CliRunner.args(new String[]{"launch", "--nproc", "2"}, args));
        assertThat(r.exit()).as("%s", r).isZero();
        JsonNode job = r.lastJson();
        assertThat(job.get("exit_code").asInt()).isZero();
        List<JsonNode> ranks = new java.util.ArrayList<>();
        job.get("ranks").forEach(ranks::add);
        assertThat(ranks).hasSize(2);
        return ranks;
    }
}
