package dev.memwall.cli;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

/** sweep on a tiny model for two steps: one child run per (optimizer, rate) (two here, each a JVM), the accuracies, ranges and chart. */
class SweepCommandTest {
    @TempDir
    Path dir;

    @Test
    void oneRunPerOptimizerAndRateWithTheirAccuracies() throws Exception {
        Path png = dir.resolve("sweep.png");
        CliRunner.Result r = CliRunner.run("sweep", "--optimizer", "adamw,adahessian", "--lr", "0.05", "--steps", "2",
                "--layers", "1", "--dim", "16", "--heads", "2", "--batch", "4", "--eval-examples", "8", "--threshold", "0",
                "--json", "--chart", png.toString());
        assertThat(r.exit()).as("%s", r).isZero();
        JsonNode j = r.lastJson();
        assertThat(j.get("runs")).hasSize(2);
        assertThat(j.get("runs").get(1).get("optimizer").asText()).isEqualTo("adahessian");
        assertThat(j.get("runs").get(1).get("lr").asDouble()).isEqualTo(0.05);
        for (JsonNode run : j.get("runs")) assertThat(run.get("eval_accuracy").isNumber()).as("%s", run).isTrue();
        // threshold 0: every rate counts
        assertThat(j.get("ranges").get("adamw").get("passing").asInt()).isEqualTo(1);
        assertThat(j.get("ranges").get("adahessian").get("min_lr").asDouble()).isEqualTo(0.05);
        assertThat(Files.size(png)).isPositive();
        CliRunner.Result bad = CliRunner.run("sweep", "--optimizer", "adam");
        assertThat(bad.exit()).isEqualTo(2);
        assertThat(bad.err()).contains("--optimizer adam: expected adamw, sgd or adahessian");
    }
}
