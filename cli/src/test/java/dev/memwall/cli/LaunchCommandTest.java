package dev.memwall.cli;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@code memwall launch}: argument errors before any worker starts, arguments after COMMAND passed on unparsed, and
 * the combined --json object of real {@code train} workers.
 */
@Timeout(300)
class LaunchCommandTest {
    /** Exit 2 with the usage of {@code command}, and no worker started. */
    private static CliRunner.Result usageError(String command, String... args) {
        CliRunner.Result r = CliRunner.run(args);
        assertThat(r.exit()).as("%s", r).isEqualTo(2);
        assertThat(r.err()).as("%s", r).contains("Usage: memwall " + command + " ").doesNotContain("memwall launch: ").doesNotContain("at dev.memwall");
        return r;
    }

    @Test
    void badArgumentsAreRefusedBeforeAnyWorkerStarts() {
        assertThat(usageError("launch", "launch", "--nproc", "0", "train").err()).contains("--nproc must be at least 1, got 0");
        assertThat(usageError("launch", "launch", "--nproc", "2", "trian").err()).contains("unknown command 'trian'; COMMAND is one of train, bench");
        assertThat(usageError("launch", "launch", "--nproc", "2", "launch", "--nproc", "2", "train").err()).contains("launch cannot run launch");
        assertThat(usageError("launch", "launch", "--nproc", "2", "--heap", "2q", "train").err()).contains("--heap: heap size '2q'");
        assertThat(usageError("launch", "launch", "--nproc", "2", "--grace", "-1", "train").err()).contains("--grace must be zero or more");
        assertThat(usageError("launch", "launch", "--nproc", "2").err()).contains("COMMAND");
        assertThat(usageError("launch", "launch", "train").err()).contains("--nproc");
        // The command's own arguments are checked once, by the launcher, not by every worker.
        assertThat(usageError("train", "launch", "--nproc", "2", "train", "--bogus").err()).contains("train: Unknown option: '--bogus'");
    }

    @Test
    void argumentsAfterTheCommandGoToTheWorkersEvenWhenTheyLookLikeLaunchOptions() {
        // --heap after COMMAND is train's argument (which train does not have), not launch's.
        assertThat(usageError("train", "launch", "--nproc", "2", "train", "--heap", "2g").err()).contains("train: Unknown options: '--heap', '2g'");
    }

    @Test
    void jsonCombinesEveryRanksSummaryInRankOrder() {
        CliRunner.Result r = CliRunner.run(CliRunner.args(new String[]{"launch", "--nproc", "2"}, CliRunner.args(TrainCommandTest.SMALL, "--json")));
        assertThat(r.exit()).as("%s", r).isZero();
        assertThat(r.outLines()).as("stdout is one JSON object: %s", r).hasSize(1);
        JsonNode j = r.lastJson();
        assertThat(List.of(j.fieldNames().next(), j.get("world_size").asInt(), j.get("exit_code").asInt())).containsExactly("world_size", 2, 0);
        assertThat(j.get("ranks")).hasSize(2);
        for (JsonNode rank : j.get("ranks")) {
            assertThat(rank.get("steps").asInt()).isEqualTo(3);
            // every rank trains the same single-process job until train learns RANK
            assertThat(rank.get("final_loss").asDouble()).isEqualTo(j.get("ranks").get(0).get("final_loss").asDouble());
        }
        for (int rank = 0; rank < 2; rank++) {
            assertThat(r.errLines()).as("%s", r).contains("[rank " + rank + "] model: GPT L1 D16 H2 ctx13 vocab256, 11.7K params, batch 4; addition task (3 digits), 3 steps");
        }
    }

    /** {@code memwall launch --nproc 2 train --zero 3}, end to end: both ranks train the same model on their shards. */
    @Test
    void zeroStageThreeTrainsThroughTheLauncher() {
        CliRunner.Result r = CliRunner.run(CliRunner.args(new String[]{"launch", "--nproc", "2"},
                CliRunner.args(TrainCommandTest.SMALL, "--zero", "3", "--json")));
        assertThat(r.exit()).as("%s", r).isZero();
        JsonNode j = r.lastJson();
        assertThat(j.get("ranks")).hasSize(2);
        long psi = j.get("ranks").get(0).get("params").asLong();
        for (JsonNode rank : j.get("ranks")) {
            assertThat(rank.get("zero_stage").asInt()).isEqualTo(3);
            assertThat(rank.get("world_size").asInt()).isEqualTo(2);
            assertThat(rank.get("model_state_bytes").asDouble()).as("%s", rank).isBetween(8.0 * psi * 0.99, 8.0 * psi * 1.01);
            assertThat(rank.get("final_loss").asDouble()).isEqualTo(j.get("ranks").get(0).get("final_loss").asDouble());
        }
    }

    @Test
    void aFailingWorkerEndsTheLaunchWithItsStatus() {
        // --steps 0 passes parsing but train refuses it: every worker exits 2.
        CliRunner.Result r = CliRunner.run("launch", "--nproc", "2", "train", "--steps", "0", "--no-progress");
        assertThat(r.exit()).as("%s", r).isEqualTo(2);
        assertThat(r.err()).containsPattern("\\[rank [01]\\] --steps, --batch, .* must be positive")
                .containsPattern("memwall launch: rank [01] exited with status 2");

        // Under --json the object still comes, with the exit code and no summary from ranks that wrote none.
        CliRunner.Result j = CliRunner.run("launch", "--nproc", "2", "train", "--steps", "0", "--no-progress", "--json");
        assertThat(j.exit()).as("%s", j).isEqualTo(2);
        assertThat(j.outLines()).as("%s", j).hasSize(1);
        assertThat(j.lastJson().toString()).isEqualTo("{\"world_size\":2,\"exit_code\":2,\"ranks\":[null,null]}");
    }
}
