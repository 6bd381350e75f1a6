package dev.memwall.cli;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

/** {@code memwall bench --json} on a tiny model (it also times a 2048³ sgemm, about a second). */
class BenchCommandTest {
    @Test
    void medianIsTheMiddleValueOrTheMeanOfTheMiddleTwo() {
        assertThat(BenchCommand.median(new double[]{30, 1, 2})).isEqualTo(2);
        assertThat(BenchCommand.median(new double[]{4, 1, 2, 30})).isEqualTo(3);
        assertThat(BenchCommand.median(new double[]{7})).isEqualTo(7);
    }

    @Test
    void jsonHasTheDocumentedFields() {
        CliRunner.Result r = CliRunner.run("bench", "--layers", "1", "--dim", "32", "--heads", "2", "--batch", "2", "--ctx", "16",
                "--warmup", "1", "--steps", "2", "--json");
        assertThat(r.exit()).as("%s", r).isZero();
        assertThat(r.outLines()).as("only the JSON line on stdout with --json: %s", r).hasSize(1);
        JsonNode j = r.lastJson();
        for (String k : new String[]{"config", "step_ms_median", "tokens_per_s", "model_gflops_per_s", "sgemm_peak_gflops", "mfu",
                "peak_bytes", "jvm_heap_peak_bytes"}) {
            assertThat(j.has(k)).as("%s in %s", k, j).isTrue();
        }
        JsonNode c = j.get("config");
        assertThat(c.get("layers").asInt()).isEqualTo(1);
        assertThat(c.get("dim").asInt()).isEqualTo(32);
        assertThat(c.get("heads").asInt()).isEqualTo(2);
        assertThat(c.get("batch").asInt()).isEqualTo(2);
        assertThat(c.get("ctx").asInt()).isEqualTo(16);
        assertThat(c.get("vocab").asInt()).isEqualTo(256);
        // tok 256·32 + pos 16·32 + block (2·64 + 96·32+96 + 32·32+32 + 128·32+128 + 32·128+32) + lnf 64 + head 256·32
        long params = 256 * 32 + 16 * 32 + (2 * 64 + 96 * 32 + 96 + 32 * 32 + 32 + 128 * 32 + 128 + 32 * 128 + 32) + 64 + 256 * 32;
        assertThat(c.get("params").asLong()).isEqualTo(params);

        double ms = j.get("step_ms_median").asDouble();
        assertThat(ms).isPositive();
        assertThat(j.get("step_ms").size()).isEqualTo(2);
        assertThat(j.get("tokens_per_s").asDouble()).isPositive();
        // tokens/s is B·T over the median step time (rounded: step_ms_median has 2 decimals).
        assertThat(j.get("tokens_per_s").asDouble()).isCloseTo(2 * 16 / (ms / 1000), within(0.05 * 2 * 16 / (ms / 1000) + 1));
        assertThat(j.get("model_gflops_per_s").asDouble()).isNotNegative();
        assertThat(j.get("sgemm_peak_gflops").asDouble()).isPositive();
        double mfu = j.get("mfu").asDouble();
        assertThat(mfu).isBetween(0.0, 1.5);
        JsonNode peak = j.get("peak_bytes");
        for (String k : TrainCommandTest.CATEGORIES) assertThat(peak.has(k)).as("peak_bytes.%s", k).isTrue();
        assertThat(peak.get("parameter").asLong()).isEqualTo(4 * params);
        assertThat(peak.get("optimizer_state").asLong()).isEqualTo(8 * params);
        assertThat(peak.get("activation").asLong()).isPositive();
        assertThat(peak.get("total").asLong()).isGreaterThanOrEqualTo(peak.get("parameter").asLong());
        assertThat(j.get("jvm_heap_peak_bytes").asLong()).isPositive();
    }
}
