package dev.memwall.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@code --precision} and {@code --loss-scale} on the command line: the JSON contract, refusals, and a saved run's
 * loss scaler coming back as saved (scale bits, growth counter, skipped steps).
 */
class PrecisionOptionsTest {
    static final String[] RUN = {"train", "--dim", "16", "--layers", "1", "--heads", "2", "--batch", "4", "--digits", "2",
            "--eval-examples", "8", "--eval-every", "0", "--no-progress", "--json"};

    @TempDir
    Path dir;

    private static CliRunner.Result run(String... args) {
        return CliRunner.run(args);
    }

    @Test
    void trainJsonNamesThePrecisionTheFinalScaleAndTheSkippedSteps() {
        CliRunner.Result r = run(CliRunner.args(RUN, "--steps", "2", "--precision", "fp16"));
        assertThat(r.exit()).as("%s", r).isZero();
        JsonNode j = r.lastJson();
        assertThat(j.get("precision").asText()).isEqualTo("fp16");
        assertThat(j.get("loss_scale").asDouble()).as("FP16 defaults to dynamic scaling at 2^16").isEqualTo(65536.0);
        assertThat(j.get("skipped_steps").asLong()).isZero();
        JsonNode plain = run(CliRunner.args(RUN, "--steps", "1")).lastJson();
        assertThat(plain.get("precision").asText()).isEqualTo("fp32");
        assertThat(plain.get("loss_scale").asDouble()).isEqualTo(1.0);
        JsonNode bf16 = run(CliRunner.args(RUN, "--steps", "1", "--precision", "bf16")).lastJson();
        assertThat(bf16.get("loss_scale").asDouble()).as("BF16 defaults to none").isEqualTo(1.0);
    }

    /** bench takes the FP8 recipes through the same option: Linear inputs saved in one byte, so less ACTIVATION. */
    @Test
    void benchRunsAnFp8RecipeAndReportsIt() {
        String[] bench = {"bench", "--layers", "1", "--dim", "32", "--heads", "2", "--batch", "2", "--ctx", "16", "--warmup", "0",
                "--steps", "1", "--no-sgemm-peak", "--json"};
        CliRunner.Result fp8 = run(CliRunner.args(bench, "--precision", "mxfp8"));
        assertThat(fp8.exit()).as("%s", fp8).isZero();
        JsonNode j = fp8.lastJson(), plain = run(bench).lastJson();
        assertThat(j.get("precision").asText()).isEqualTo("mxfp8");
        assertThat(j.get("loss_scale").asDouble()).isEqualTo(1.0);
        assertThat(j.get("skipped_steps").asLong()).isZero();
        assertThat(j.get("peak_bytes").get("activation").asLong()).isLessThan(plain.get("peak_bytes").get("activation").asLong());
    }

    @Test
    void badSettingsAreArgumentErrors() {
        CliRunner.Result fp4 = run(CliRunner.args(RUN, "--steps", "1", "--precision", "fp4"));
        assertThat(fp4.exit()).isEqualTo(2);
        assertThat(fp4.err()).contains("unknown precision 'fp4'").contains("fp8-blockwise or mxfp8");
        CliRunner.Result bench = run("bench", "--precision", "fp4", "--steps", "1");
        assertThat(bench.exit()).isEqualTo(2);
        assertThat(bench.err()).contains("unknown precision 'fp4'");
        CliRunner.Result bad = run(CliRunner.args(RUN, "--steps", "1", "--loss-scale", "static:0"));
        assertThat(bad.exit()).isEqualTo(2);
        assertThat(bad.err()).contains("static:S needs S > 0");
    }

    /**
     * The saved scaler state is what a resumed run starts from: a state edited to scale 2^40 (which overflows FP16 in
     * backward), growth counter 7 and 3 skipped steps makes the resumed run skip and halve until it fits, counting on
     * from 3; the scale it ends at is 2^40 halved once per new skip.
     */
    @Test
    void aResumedRunContinuesFromTheSavedScalerState() throws Exception {
        Path run = dir.resolve("run");
        CliRunner.Result first = run(CliRunner.args(RUN, "--steps", "2", "--precision", "fp16", "--save", run.toString()));
        assertThat(first.exit()).as("%s", first).isZero();
        Path state = run.resolve("step-000002").resolve("state.json");
        ObjectNode manifest = (ObjectNode) CliRunner.MAPPER.readTree(state.toFile());
        JsonNode scaler = manifest.get("extra").get("grad_scaler");
        assertThat(manifest.get("extra").get("precision").asText()).isEqualTo("fp16");
        assertThat(manifest.get("extra").get("loss_scale").asText()).isEqualTo("dynamic");
        assertThat(scaler.get("scale_bits").asInt()).isEqualTo(Float.floatToRawIntBits(65536f));
        assertThat(scaler.get("growth_tracker").asInt()).isEqualTo(2);
        ObjectNode edited = (ObjectNode) scaler;
        edited.put("scale_bits", Float.floatToRawIntBits(0x1p40f));
        edited.put("growth_tracker", 7);
        edited.put("skipped_steps", 3);
        Files.write(state, CliRunner.MAPPER.writeValueAsBytes(manifest));

        CliRunner.Result resumed = run("train", "--resume", run.toString(), "--steps", "12", "--no-progress", "--json",
                "--eval-every", "0", "--eval-examples", "8");
        assertThat(resumed.exit()).as("%s", resumed).isZero();
        JsonNode j = resumed.lastJson();
        assertThat(j.get("precision").asText()).as("the saved precision, not the default").isEqualTo("fp16");
        long newSkips = j.get("skipped_steps").asLong() - 3;
        assertThat(newSkips).isPositive();
        assertThat(j.get("loss_scale").asDouble()).isEqualTo(Math.scalb(1.0, 40 - (int) newSkips));

        CliRunner.Result disagree = run("train", "--resume", run.toString(), "--precision", "bf16", "--no-progress");
        assertThat(disagree.exit()).isEqualTo(2);
        assertThat(disagree.err()).contains("--precision bf16 disagrees with the run being resumed, saved with --precision fp16");
    }
}
