package dev.memwall.cli;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * compare-optimizers on a tiny model: every (optimizer, policy) row, AdaHessian's extra state and gradient-sized sums,
 * and the ZeRO-2 rows on two worker JVMs with their per-rank state.
 */
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
        assertThat(rows).hasSize(11);
        long params = 0;
        for (JsonNode row : rows) {
            assertThat(row.get("step_ms").asDouble()).isPositive();
            if (row.get("zero_stage").asInt() == 2) continue;
            long paramBytes = row.get("peak_bytes").get("parameter").asLong();
            params = paramBytes / 4;
            long state = row.get("peak_bytes").get("optimizer_state").asLong();
            boolean adamw = row.get("optimizer").asText().equals("adamw");
            assertThat(state).as("%s", row).isEqualTo((adamw ? 2 : 3) * paramBytes);
            // AdaHessian's step holds the signed z ⊙ Hz sums (one gradient's worth) beside the gradient buffer
            assertThat(row.get("peak_bytes").get("gradient").asLong()).as("%s", row).isEqualTo((adamw ? 1 : 2) * paramBytes);
        }
        // ZeRO-2 on 2 workers, per rank: AdamW's two and AdaHessian's three state vectors over half the parameters;
        // gradients: AdamW's shard, AdaHessian's Hessian step a whole flat gradient and the full-length sums besides
        for (int k = 9; k < 11; k++) {
            JsonNode row = rows.get(k);
            boolean adamw = k == 9;
            assertThat(row.get("optimizer").asText()).isEqualTo(adamw ? "adamw" : "adahessian");
            assertThat(row.get("world_size").asInt()).isEqualTo(2);
            double psi = params, state = row.get("peak_bytes").get("optimizer_state").asDouble();
            assertThat(state).as("%s", row).isBetween((adamw ? 8 : 12) * psi / 2, (adamw ? 8 : 12) * (psi + 2) / 2);
            double grad = row.get("peak_bytes").get("gradient").asDouble();
            assertThat(grad).as("%s", row).isBetween((adamw ? 4 : 20) * psi / 2, (adamw ? 4 : 20) * (psi + 2) / 2);
            assertThat(row.get("step_vs_adamw").asDouble()).isPositive();
        }
        assertThat(rows.get(10).get("hvp_ms")).isNotNull();
        assertThat(params).isPositive();
        assertThat(rows.get(0).get("policy").asText()).startsWith("NONE");
        assertThat(rows.get(1).get("hvp_ms")).isNotNull();
        assertThat(rows.get(2).get("update_each").asInt()).isEqualTo(2);
        assertThat(Files.size(png)).isPositive();
    }
}
