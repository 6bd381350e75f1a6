package dev.memwall.cli;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@code --save-activations} and {@code --optimizer-state} on train and bench: the JSON names them, the bytes they
 * change are the ones that shrink, a bad value is an argument error, and resume keeps the run's optimizer-state format.
 */
class CompressedStateCommandTest {
    @TempDir
    Path dir;

    private static final String[] BENCH = {"bench", "--layers", "1", "--dim", "64", "--heads", "2", "--batch", "2", "--ctx", "16",
            "--warmup", "0", "--steps", "1", "--no-sgemm-peak", "--json"};

    private static JsonNode bench(String... more) {
        CliRunner.Result r = CliRunner.run(CliRunner.args(BENCH, more));
        assertThat(r.exit()).as("%s", r).isZero();
        return r.lastJson();
    }

    @Test
    void benchJsonNamesBothAndTheirBytesShrink() {
        JsonNode plain = bench(), bf16 = bench("--save-activations", "bf16"), int8 = bench("--optimizer-state", "int8");
        assertThat(plain.get("save_activations").asText()).isEqualTo("fp32");
        assertThat(plain.get("optimizer_state").asText()).isEqualTo("fp32");
        assertThat(bf16.get("save_activations").asText()).isEqualTo("bf16");
        assertThat(int8.get("optimizer_state").asText()).isEqualTo("int8");
        long act = plain.get("peak_bytes").get("activation").asLong();
        assertThat(bf16.get("peak_bytes").get("activation").asLong()).isLessThan(act * 52 / 100);
        long state = plain.get("peak_bytes").get("optimizer_state").asLong();
        assertThat(int8.get("peak_bytes").get("optimizer_state").asLong()).isLessThan(state * 40 / 100);
        assertThat(int8.get("peak_bytes").get("parameter").asLong()).isEqualTo(plain.get("peak_bytes").get("parameter").asLong());
    }

    /** compare-memory with BF16 saved activations: the planner predicts NONE's and SELECTIVE's peaks exactly, the budget is met. */
    @Test
    void compareMemoryPlansAndPredictsUnderCompression() throws Exception {
        CliRunner.Result r = CliRunner.run("compare-memory", "--layers", "2", "--dim", "32", "--heads", "2", "--ctx", "16",
                "--batch", "2", "--warmup", "0", "--steps", "1", "--rounds", "1", "--json", "--save-activations", "bf16");
        assertThat(r.exit()).as("%s", r).isZero();
        JsonNode rows = CliRunner.MAPPER.readTree(r.outLines().get(r.outLines().size() - 1));
        for (JsonNode row : rows) {
            assertThat(row.get("save_activations").asText()).isEqualTo("bf16");
            String policy = row.get("policy").asText();
            if (policy.equals("NONE") || policy.equals("SELECTIVE")) {
                assertThat(row.get("peak_activation_bytes").asLong()).as(policy).isEqualTo(row.get("predicted_activation_bytes").asLong());
            }
            assertThat(row.get("peak_total_bytes").asLong()).as(policy).isLessThanOrEqualTo(row.get("predicted_peak_bytes").asLong());
        }
        JsonNode budget = rows.get(rows.size() - 1);
        assertThat(budget.get("peak_total_bytes").asLong()).isLessThanOrEqualTo(budget.get("budget_bytes").asLong());
        assertThat(CliRunner.run("compare-memory", "--save-activations", "fp8", "--real-memory").exit()).isEqualTo(2);
    }

    @Test
    void badValuesAreArgumentErrors() {
        CliRunner.Result r = CliRunner.run(CliRunner.args(TrainCommandTest.SMALL, "--save-activations", "fp4"));
        assertThat(r.exit()).isEqualTo(2);
        assertThat(r.err()).contains("--save-activations").contains("fp32, bf16, fp8");
        r = CliRunner.run(CliRunner.args(TrainCommandTest.SMALL, "--optimizer-state", "int4"));
        assertThat(r.exit()).isEqualTo(2);
        assertThat(r.err()).contains("--optimizer-state").contains("fp32, bf16, int8");
    }

    /** A 5-step run saved at step 3 and 5; its step-3 checkpoint resumed to 5 writes the same files as it did. */
    @Test
    void resumedInt8RunEndsBitIdenticalToAnUninterruptedOne() throws java.io.IOException {
        Path whole = dir.resolve("whole"), split = dir.resolve("split");
        CliRunner.Result first = CliRunner.run("train", "--steps", "5", "--dim", "64", "--layers", "1", "--heads", "2", "--batch", "4",
                "--eval-examples", "8", "--eval-every", "3", "--no-progress", "--optimizer-state", "int8", "--save", whole.toString());
        assertThat(first.exit()).as("%s", first).isZero();
        java.nio.file.Files.createDirectories(split.resolve("step-000003"));
        try (var files = java.nio.file.Files.list(whole.resolve("step-000003"))) {
            for (Path f : files.toList()) java.nio.file.Files.copy(f, split.resolve("step-000003").resolve(f.getFileName()));
        }
        java.nio.file.Files.writeString(split.resolve("latest"), "step-000003\n");
        CliRunner.Result resumed = CliRunner.run("train", "--resume", split.toString(), "--save", split.toString(),
                "--eval-examples", "8", "--eval-every", "3", "--no-progress");
        assertThat(resumed.exit()).as("%s", resumed).isZero();
        for (String file : new String[]{"optimizer.safetensors", "model.safetensors"}) {
            assertThat(java.nio.file.Files.readAllBytes(split.resolve("step-000005").resolve(file))).as(file)
                    .isEqualTo(java.nio.file.Files.readAllBytes(whole.resolve("step-000005").resolve(file)));
        }
    }

    @Test
    void trainSavesAndResumesInt8StateAndRefusesAnotherFormat() {
        Path run = dir.resolve("run");
        CliRunner.Result first = CliRunner.run(CliRunner.args(TrainCommandTest.SMALL, "--json", "--optimizer-state", "int8",
                "--save-activations", "fp8", "--save", run.toString()));
        assertThat(first.exit()).as("%s", first).isZero();
        assertThat(first.lastJson().get("optimizer_state").asText()).isEqualTo("int8");
        assertThat(first.lastJson().get("save_activations").asText()).isEqualTo("fp8");
        CliRunner.Result resumed = CliRunner.run("train", "--resume", run.toString(), "--save", run.toString(), "--steps", "5",
                "--eval-examples", "8", "--no-progress", "--json");
        assertThat(resumed.exit()).as("%s", resumed).isZero();
        assertThat(resumed.lastJson().get("optimizer_state").asText()).isEqualTo("int8");
        CliRunner.Result other = CliRunner.run("train", "--resume", run.toString(), "--optimizer-state", "fp32", "--no-progress");
        assertThat(other.exit()).isEqualTo(2);
        assertThat(other.err()).contains("--optimizer-state fp32 disagrees with the run's int8");
    }
}
