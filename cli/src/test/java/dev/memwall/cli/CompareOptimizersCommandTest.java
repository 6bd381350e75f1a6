package dev.memwall.cli;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

/** compare-optimizers on a tiny model: every (optimizer, policy) row, AdaHessian's extra state and gradient-sized sums. */
class CompareOptimizersCommandTest {
    @TempDir
    Path dir;

    @Test
    void rowsForEachOptimizerAndPolicyWithTheBytesAdaHessianAdds() throws Exception {
        Path png = dir.resolve("opt.png");
        CliRunner.Result r = CliRunner.run("compare-optimizers", "--layers", "2", "--dim", "32", "--heads", "2", "--ctx", "16",
                "--batch", "2", "--warmup", "0", "--steps", "1", "--rounds", "1", "--update-each", "2", "--json", "--chart", png.toString());
        assertThat(r.exit()).as("%s", r).isZero();
        JsonNode rows = Json.MAPPER.readTree(r.outLines().get(r.outLines().size() - 1));
        assertThat(rows).hasSize(9);
        long params = 0;
        for (JsonNode row : rows) {
            assertThat(row.get("step_ms").asDouble()).isPositive();
            long paramBytes = row.get("peak_bytes").get("parameter").asLong();
            params = paramBytes / 4;
            long state = row.get("peak_bytes").get("optimizer_state").asLong();
            boolean adamw = row.get("optimizer").asText().equals("adamw");
            assertThat(state).as("%s", row).isEqualTo((adamw ? 2 : 3) * paramBytes);
            // AdaHessian's step holds the signed z ⊙ Hz sums (one gradient's worth) beside the gradient buffer
            assertThat(row.get("peak_bytes").get("gradient").asLong()).as("%s", row).isEqualTo((adamw ? 1 : 2) * paramBytes);
        }
        assertThat(params).isPositive();
        assertThat(rows.get(0).get("policy").asText()).startsWith("NONE");
        assertThat(rows.get(1).get("hvp_ms")).isNotNull();
        assertThat(rows.get(2).get("update_each").asInt()).isEqualTo(2);
        assertThat(Files.size(png)).isPositive();
    }
}
