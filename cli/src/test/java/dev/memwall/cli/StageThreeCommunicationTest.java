package dev.memwall.cli;

import com.fasterxml.jackson.databind.JsonNode;
import dev.memwall.data.AdditionTask;
import dev.memwall.nn.Gpt;
import dev.memwall.nn.GptConfig;
import dev.memwall.rng.Rng;
import dev.memwall.sharding.ProcessGroup;
import dev.memwall.autograd.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@code train --zero 3} on worker JVMs: each rank's COMMUNICATION peak, as its own memory tracker measures it over
 * the whole run (forward, backward and recomputation), is at most two units' gathered parameter bytes — two blocks,
 * the largest unit —, while the prefetch still happens (more than one unit's bytes at once).
 */
@Timeout(600)
class StageThreeCommunicationTest {
    static final int DIM = 32, LAYERS = 2, HEADS = 2, DIGITS = 2;
    static final String[] STAGE_3 = {"train", "--zero", "3", "--steps", "2", "--batch", "8", "--dim", Integer.toString(DIM),
            "--layers", Integer.toString(LAYERS), "--heads", Integer.toString(HEADS), "--digits", Integer.toString(DIGITS),
            "--eval-every", "0", "--eval-examples", "16", "--no-progress", "--json"};

    /** Bytes of the largest unit's gathered buffer at world size n: 4·N·ceil(L_u / N), from the model's own shapes. */
    static long largestUnitBytes(int n) {
        GptConfig config = new GptConfig(256, new AdditionTask(DIGITS).context(), DIM, HEADS, LAYERS, 0f);
        Gpt model = new Gpt(config, new Rng(1));
        long[] length = new long[model.unitCount()];
        for (Map.Entry<String, Tensor> e : model.namedParameters().entrySet()) length[model.unitOf(e.getKey())] += e.getValue().numel();
        long largest = 0;
        for (long l : length) largest = Math.max(largest, 4L * n * ProcessGroup.shardLength(l, n));
        long block = 4L * (12L * DIM * DIM + 13L * DIM); // two LayerNorms, qkv, proj, fc, fc2 with biases
        assertThat(largest).as("the largest unit is a block").isBetween(block, block + 4L * (n - 1));
        return largest;
    }

    /**
     * SELECTIVE has all three phases (forward, backward, recomputation); the other policies and N = 4 are checked on
     * ranks in threads ({@code ZeroStage3Test}), where the tracker is shared.
     */
    @Test
    void eachRanksCommunicationPeakIsAtMostTwoBlocks() throws Exception {
        check(2, "SELECTIVE");
    }

    private static void check(int n, String policy) throws Exception {
        long unit = largestUnitBytes(n);
        List<JsonNode> ranks = ShardedTrainCommandTest.workers(n, CliRunner.args(STAGE_3, "--checkpoint", policy));
        for (int r = 0; r < n; r++) {
            long peak = ranks.get(r).get("peak_bytes").get("communication").asLong();
            assertThat(peak).as("N=%d %s rank %d: COMMUNICATION peak over two blocks of %d bytes", n, policy, r, unit)
                    .isGreaterThan(unit).isLessThanOrEqualTo(2 * unit);
            assertThat(ranks.get(r).get("final_loss")).as("N=%d %s rank %d", n, policy, r).isEqualTo(ranks.get(0).get("final_loss"));
        }
    }
}
