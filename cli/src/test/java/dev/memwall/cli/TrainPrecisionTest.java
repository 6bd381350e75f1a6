package dev.memwall.cli;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** {@code train --precision}: FP8 recipes on every Linear layer, named in the JSON; unknown values refused. */
class TrainPrecisionTest {

    @Test
    void fp8RecipesTrainAndTheJsonNamesThePrecision() {
        for (String p : new String[]{"fp8", "mxfp8"}) {
            CliRunner.Result r = CliRunner.run(CliRunner.args(TrainCommandTest.SMALL, "--precision", p, "--json"));
            assertThat(r.exit()).as("%s", r).isZero();
            JsonNode j = r.lastJson();
            assertThat(j.get("precision").asText()).isEqualTo(p);
            assertThat(j.get("loss_scale").asDouble()).as("FP8 recipes default to no loss scaling").isEqualTo(1.0);
            assertThat(j.get("skipped_steps").asLong()).isZero();
            assertThat(Double.isFinite(j.get("final_loss").asDouble())).isTrue();
        }
        CliRunner.Result fp32 = CliRunner.run(CliRunner.args(TrainCommandTest.SMALL, "--json"));
        assertThat(fp32.lastJson().get("precision").asText()).isEqualTo("fp32");
    }

    @Test
    void anUnknownPrecisionIsAUsageError() {
        CliRunner.Result r = CliRunner.run(CliRunner.args(TrainCommandTest.SMALL, "--precision", "fp4"));
        assertThat(r.exit()).isEqualTo(2);
        assertThat(r.err()).contains("--precision").contains("unknown precision 'fp4'");
    }
}
