package dev.memwall.cli;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

/** {@code --optimizer} on train and bench: the JSON names it, AdaHessian's options need it, a resumed run keeps it. */
class OptimizerOptionTest {
    @TempDir
    Path dir;

    private static JsonNode ok(String... args) {
        CliRunner.Result r = CliRunner.run(args);
        assertThat(r.exit()).as("%s", r).isZero();
        return r.lastJson();
    }

    @Test
    void trainNamesTheOptimizerAndAdaHessianTakesItsOwnDefaultRate() {
        JsonNode adamw = ok(CliRunner.args(TrainCommandTest.SMALL, "--json"));
        assertThat(adamw.get("optimizer").asText()).isEqualTo("adamw");
        JsonNode ah = ok(CliRunner.args(TrainCommandTest.SMALL, "--optimizer", "adahessian", "--update-each", "2", "--block-length", "4", "--json"));
        assertThat(ah.get("optimizer").asText()).isEqualTo("adahessian");
        assertThat(ah.get("lr").asDouble()).isEqualTo(TrainCommand.ADAHESSIAN_LR);
        assertThat(ah.get("optimizer_settings").get("update_each").asInt()).isEqualTo(2);
        assertThat(ah.get("optimizer_settings").get("block_length").asInt()).isEqualTo(4);
        assertThat(ah.get("final_loss").asDouble()).isFinite();
        // the three state vectors
        assertThat(ah.get("peak_bytes").get("optimizer_state").asLong()).isEqualTo(3 * 4 * ah.get("params").asLong());
        JsonNode sgd = ok(CliRunner.args(TrainCommandTest.SMALL, "--optimizer", "sgd", "--lr", "0.01", "--json"));
        assertThat(sgd.get("optimizer").asText()).isEqualTo("sgd");
    }

    @Test
    void badOptimizerArgumentsAreRefused() {
        CliRunner.Result bogus = CliRunner.run(CliRunner.args(TrainCommandTest.SMALL, "--optimizer", "lamb"));
        assertThat(bogus.exit()).isEqualTo(2);
        assertThat(bogus.err()).contains("--optimizer lamb: expected adamw, sgd or adahessian");
        CliRunner.Result stray = CliRunner.run(CliRunner.args(TrainCommandTest.SMALL, "--update-each", "3"));
        assertThat(stray.exit()).isEqualTo(2);
        assertThat(stray.err()).contains("--update-each is an AdaHessian option");
    }

    @Test
    void adaHessianTrainsInFp16WithDynamicLossScaling() {
        JsonNode j = ok(CliRunner.args(TrainCommandTest.SMALL, "--optimizer", "adahessian", "--precision", "fp16", "--json"));
        assertThat(j.get("precision").asText()).isEqualTo("fp16");
        assertThat(j.get("loss_scale").asDouble()).isPositive();
        assertThat(j.get("final_loss").asDouble()).isFinite();
    }

    @Test
    void aResumedRunKeepsItsOptimizer() {
        Path run = dir.resolve("run");
        ok(CliRunner.args(TrainCommandTest.SMALL, "--optimizer", "adahessian", "--update-each", "2", "--save", run.toString(), "--json"));
        JsonNode resumed = ok("train", "--resume", run.toString(), "--steps", "5", "--json");
        assertThat(resumed.get("optimizer").asText()).isEqualTo("adahessian");
        assertThat(resumed.get("optimizer_settings").get("update_each").asInt()).isEqualTo(2);
        assertThat(resumed.get("steps").asInt()).isEqualTo(5);
        CliRunner.Result other = CliRunner.run("train", "--resume", run.toString(), "--optimizer", "adamw", "--steps", "5");
        assertThat(other.exit()).isEqualTo(2);
        assertThat(other.err()).contains("--optimizer adamw disagrees with the run's adahessian");
    }

    @Test
    void benchNamesTheOptimizerAndAveragesADelayedHessian() {
        JsonNode b = ok("bench", "--layers", "1", "--dim", "32", "--heads", "2", "--batch", "2", "--ctx", "16", "--warmup", "0",
                "--steps", "4", "--no-sgemm-peak", "--optimizer", "adahessian", "--update-each", "2", "--json");
        assertThat(b.get("config").get("optimizer").asText()).isEqualTo("adahessian");
        assertThat(b.get("step_ms_mean").asDouble()).isPositive();
        assertThat(b.get("peak_bytes").get("optimizer_state").asLong()).isEqualTo(3 * 4 * b.get("config").get("params").asLong());
    }

    @Test
    void hessianDtypeIsReportedAndBadValuesAreRefused() {
        JsonNode bf16 = ok(CliRunner.args(TrainCommandTest.SMALL, "--optimizer", "adahessian", "--hessian-dtype", "bf16", "--json"));
        assertThat(bf16.get("hessian_dtype").asText()).isEqualTo("bf16");
        assertThat(bf16.get("optimizer_settings").get("hessian_dtype").asText()).isEqualTo("bf16");
        assertThat(bf16.get("final_loss").asDouble()).isFinite();
        CliRunner.Result bad = CliRunner.run(CliRunner.args(TrainCommandTest.SMALL, "--optimizer", "adahessian", "--hessian-dtype", "fp8"));
        assertThat(bad.exit()).isEqualTo(2);
        assertThat(bad.err()).contains("--hessian-dtype must be fp32 or bf16");
        CliRunner.Result autocast = CliRunner.run(CliRunner.args(TrainCommandTest.SMALL, "--optimizer", "adahessian", "--hessian-dtype", "bf16",
                "--precision", "fp16"));
        assertThat(autocast.exit()).isEqualTo(2);
        assertThat(autocast.err()).contains("--hessian-dtype bf16 applies to an FP32 run, not --precision fp16");
        CliRunner.Result stray = CliRunner.run(CliRunner.args(TrainCommandTest.SMALL, "--hessian-dtype", "bf16"));
        assertThat(stray.exit()).isEqualTo(2);
        assertThat(stray.err()).contains("--hessian-dtype is an AdaHessian option");
        JsonNode b = ok("bench", "--layers", "1", "--dim", "32", "--heads", "2", "--batch", "2", "--ctx", "16", "--warmup", "0",
                "--steps", "1", "--no-sgemm-peak", "--optimizer", "adahessian", "--hessian-dtype", "bf16", "--json");
        assertThat(b.get("hessian_dtype").asText()).isEqualTo("bf16");
    }
}
