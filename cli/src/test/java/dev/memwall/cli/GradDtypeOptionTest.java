package dev.memwall.cli;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** {@code --grad-dtype} on train and bench: {@code grad_dtype} in the JSON, GRADIENT bytes halved, clear refusals. */
class GradDtypeOptionTest {
    @Test
    void trainAndBenchReportTheFormatAndHalfTheGradientBytes() {
        String[] train = CliRunner.args(PrecisionOptionsTest.RUN, "--steps", "1");
        JsonNode fp32 = CliRunner.run(train).lastJson();
        CliRunner.Result bf16 = CliRunner.run(CliRunner.args(train, "--precision", "bf16", "--grad-dtype", "bf16"));
        assertThat(bf16.exit()).as("%s", bf16).isZero();
        assertThat(fp32.get("grad_dtype").asText()).isEqualTo("fp32");
        assertThat(bf16.lastJson().get("grad_dtype").asText()).isEqualTo("bf16");
        assertThat(bf16.lastJson().get("peak_bytes").get("gradient").asLong() * 2).isEqualTo(fp32.get("peak_bytes").get("gradient").asLong());
        String[] bench = {"bench", "--layers", "1", "--dim", "32", "--heads", "2", "--batch", "2", "--ctx", "16", "--warmup", "0",
                "--steps", "1", "--no-sgemm-peak", "--json", "--grad-dtype", "fp16"};
        CliRunner.Result b = CliRunner.run(bench);
        assertThat(b.exit()).as("%s", b).isZero();
        assertThat(b.lastJson().get("grad_dtype").asText()).isEqualTo("fp16");
    }

    @Test
    void anUnknownFormatAndAdaHessianAreArgumentErrors() {
        String[] train = CliRunner.args(PrecisionOptionsTest.RUN, "--steps", "1");
        CliRunner.Result fp8 = CliRunner.run(CliRunner.args(train, "--grad-dtype", "fp8"));
        assertThat(fp8.exit()).isEqualTo(2);
        assertThat(fp8.err()).contains("--grad-dtype must be fp32, bf16 or fp16");
        CliRunner.Result ada = CliRunner.run(CliRunner.args(train, "--optimizer", "adahessian", "--grad-dtype", "bf16"));
        assertThat(ada.exit()).isEqualTo(2);
        assertThat(ada.err()).contains("--grad-dtype bf16").contains("AdaHessian");
    }
}
