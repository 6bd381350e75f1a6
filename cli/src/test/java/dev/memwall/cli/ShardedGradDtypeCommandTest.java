package dev.memwall.cli;

import com.fasterxml.jackson.databind.JsonNode;
import dev.memwall.train.ZeroStage;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.List;

import static dev.memwall.cli.ShardedTrainCommandTest.RUN;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@code train --zero 2|3 --grad-dtype bf16} on two worker JVMs against one process with the same {@code --grad-dtype}:
 * each rank's GRADIENT is exactly 2 bytes per element of its gradient shard, its summary says {@code grad_dtype}
 * bf16, and it trains as the single process does.
 */
@Timeout(600)
class ShardedGradDtypeCommandTest {
    @Test
    void stagesTwoAndThreeHoldBf16ShardsAndMatchOneProcess() throws Exception {
        JsonNode single = CliRunner.run(CliRunner.args(RUN, "--grad-dtype", "bf16")).lastJson();
        long psi = single.get("params").asLong();
        for (int stage : new int[] {2, 3}) {
            List<JsonNode> ranks = ShardedTrainCommandTest.workers(2, CliRunner.args(RUN, "--zero", Integer.toString(stage), "--grad-dtype", "bf16"));
            // stage 2: the flat buffer padded to 2·⌈Ψ/2⌉, half per rank; stage 3: each unit padded to 2·⌈L_u/2⌉ — at
            // dimension 32 every unit (embeddings (V + T)·32, block 12·32² + 13·32, head and final norm V·32 + 64) is
            // even, so also ⌈Ψ/2⌉ per rank
            long shard = (psi + 1) / 2;
            double fp32State = ZeroStage.of(stage).modelStateBytes(psi, 2), state = fp32State - 2.0 * psi / 2; // 4 → 2 bytes per gradient
            for (int r = 0; r < 2; r++) {
                JsonNode j = ranks.get(r);
                String what = "stage " + stage + " rank " + r + ": " + j;
                assertThat(j.get("grad_dtype").asText()).as(what).isEqualTo("bf16");
                assertThat(j.get("peak_bytes").get("gradient").asLong()).as(what).isEqualTo(2 * shard);
                assertThat(j.get("model_state_bytes").asDouble()).as(what).isBetween(state * 0.99, state * 1.01);
                for (String key : new String[] {"final_loss", "eval_loss"}) {
                    double ref = single.get(key).asDouble();
                    assertThat(j.get(key).asDouble()).as("%s: %s", what, key).isCloseTo(ref, org.assertj.core.data.Offset.offset(1e-3 * ref));
                    assertThat(j.get(key)).as("%s: %s the same on every rank", what, key).isEqualTo(ranks.get(0).get(key));
                }
            }
        }
    }

    @Test
    void adaHessianWithTwoByteGradientsIsRefusedAtStageTwo() {
        CliRunner.Result r = CliRunner.run(CliRunner.args(RUN, "--zero", "2", "--optimizer", "adahessian", "--grad-dtype", "bf16"));
        assertThat(r.exit()).isEqualTo(2);
        assertThat(r.err()).contains("--grad-dtype bf16").contains("AdaHessian");
    }
}
