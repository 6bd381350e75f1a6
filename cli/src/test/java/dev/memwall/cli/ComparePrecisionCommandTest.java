package dev.memwall.cli;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * compare-precision on a tiny model for two steps (five child trainings, five in-process benchmark runs): the JSON
 * contract, that the rows differ where their formats say they must, the chart, and bad arguments.
 */
class ComparePrecisionCommandTest {
    @TempDir
    Path dir;

    @Test
    void oneRowPerSettingWithTheContractFieldsAndTheBytesEachFormatSaves() throws Exception {
        Path png = dir.resolve("precision.png");
        // the settings the assertions compare (each one a child JVM); every setting runs in BENCHMARKS.md's table
        CliRunner.Result r = CliRunner.run("compare-precision", "--settings", "fp32,bf16,fp16+dynamic,bf16+act-fp8,fp32+state-int8", "--steps", "2", "--layers", "1", "--dim", "64", "--heads", "2",
                "--batch", "4", "--ctx", "16", "--eval-examples", "8", "--bench-steps", "1", "--bench-warmup", "0",
                "--json", "--chart", png.toString());
        assertThat(r.exit()).as("%s", r).isZero();
        JsonNode rows = Json.MAPPER.readTree(r.outLines().get(r.outLines().size() - 1));
        assertThat(rows.isArray()).isTrue();
        assertThat(rows).hasSize(5);
        Map<String, JsonNode> by = new HashMap<>();
        for (JsonNode row : rows) {
            assertThat(row.get("error")).as("%s", row).isNull();
            for (String f : new String[]{"precision", "eval_accuracy", "final_loss", "peak_bytes", "step_ms", "skipped_steps"}) {
                assertThat(row.has(f)).as("%s in %s", f, row).isTrue();
            }
            assertThat(row.get("eval_accuracy").isNumber()).as("%s", row).isTrue();
            assertThat(row.get("final_loss").asDouble()).as("%s", row).isPositive();
            assertThat(row.get("step_ms").asDouble()).as("%s", row).isPositive();
            assertThat(row.get("skipped_steps").asLong()).as("%s", row).isGreaterThanOrEqualTo(0);
            assertThat(row.get("peak_bytes").get("total").asLong()).isPositive();
            assertThat(row.get("bench_peak_bytes").get("activation").asLong()).isPositive();
            by.put(row.get("setting").asText(), row);
        }
        assertThat(rows.get(0).get("precision").asText()).isEqualTo("fp32");
        assertThat(by.get("fp16+dynamic").get("loss_scale").asDouble()).isGreaterThan(1); // dynamic scaling is on
        assertThat(by.get("bf16").get("loss_scale").asDouble()).isEqualTo(1);
        for (String bytesField : new String[]{"peak_bytes", "bench_peak_bytes"}) {
            long fp32Act = by.get("fp32").get(bytesField).get("activation").asLong();
            long bf16Act = by.get("bf16").get(bytesField).get("activation").asLong();
            assertThat(bf16Act).as(bytesField).isLessThan(fp32Act);
            assertThat(by.get("bf16+act-fp8").get(bytesField).get("activation").asLong()).as(bytesField).isLessThan(bf16Act);
            assertThat(by.get("fp32+state-int8").get(bytesField).get("optimizer_state").asLong()).as(bytesField)
                    .isLessThan(by.get("fp32").get(bytesField).get("optimizer_state").asLong());
        }
        assertThat(rows.get(0).get("eval_accuracy_vs_fp32_points").asDouble()).isZero();
        assertThat(Files.size(png)).isPositive();
    }

    @Test
    void badArgumentsAreRefusedWithTheirName() {
        CliRunner.Result steps = CliRunner.run("compare-precision", "--steps", "0");
        assertThat(steps.exit()).isEqualTo(2);
        assertThat(steps.err()).contains("--steps and --bench-steps must be >= 1");
        CliRunner.Result shape = CliRunner.run("compare-precision", "--dim", "30", "--heads", "4");
        assertThat(shape.exit()).isEqualTo(2);
        assertThat(shape.err()).contains("--dim 30 is not divisible by --heads 4");
        CliRunner.Result setting = CliRunner.run("compare-precision", "--settings", "fp32,fp4");
        assertThat(setting.exit()).isEqualTo(2);
        assertThat(setting.err()).contains("--settings fp4: expected one of fp32, bf16, fp16+dynamic");
        CliRunner.Result chart = CliRunner.run("compare-precision", "--chart", dir.resolve("c.gif").toString());
        assertThat(chart.exit()).isEqualTo(2);
        assertThat(chart.err()).contains("--chart");
    }
}
