package dev.memwall.cli;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@code train --optimizer adahessian --zero 2} on two worker JVMs: each rank holds its parameters (4Ψ), its gradient
 * shard (4Ψ/N) and AdaHessian's three state vectors over its pieces (12Ψ/N) between steps, against 16Ψ in one process.
 */
@Timeout(600)
class AdaHessianStageTwoCommandTest {
    @Test
    void twoWorkersKeepTwelveBytesOfOptimizerStatePerParameterOverN() throws Exception {
        String[] args = CliRunner.args(ShardedTrainCommandTest.MODEL, "--batch", "8", "--optimizer", "adahessian",
                "--update-each", "2", "--zero", "2");
        List<JsonNode> ranks = ShardedTrainCommandTest.workers(2, args);
        long psi = ranks.get(0).get("params").asLong();
        long stateSum = 0;
        for (JsonNode j : ranks) {
            assertThat(j.get("optimizer").asText()).isEqualTo("adahessian");
            assertThat(j.get("zero_stage").asInt()).isEqualTo(2);
            long state = j.get("peak_bytes").get("optimizer_state").asLong();
            assertThat((double) state).as("12Ψ/N: %s", j).isBetween(6.0 * psi * 0.99, 6.0 * psi * 1.01);
            stateSum += state;
            double formula = 4.0 * psi + 16.0 * psi / 2; // parameters + gradient shard + m, v and D of the shard
            assertThat(j.get("model_state_bytes").asDouble()).as("%s", j).isBetween(formula * 0.99, formula * 1.01);
            assertThat(j.get("final_loss")).isEqualTo(ranks.get(0).get("final_loss"));
        }
        assertThat(stateSum).as("the shards' state tiles [0, Ψ)").isEqualTo(12 * psi);
    }
}
