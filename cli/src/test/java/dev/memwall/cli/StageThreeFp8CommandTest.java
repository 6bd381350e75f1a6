package dev.memwall.cli;

import com.fasterxml.jackson.databind.JsonNode;
import dev.memwall.data.AdditionTask;
import dev.memwall.nn.Gpt;
import dev.memwall.nn.GptConfig;
import dev.memwall.rng.Rng;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.ArrayList;
import java.util.List;

import static dev.memwall.cli.ShardedTrainCommandTest.RUN;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

/**
 * {@code train --zero 3 --precision fp8|fp8-current|mxfp8|fp8-blockwise} on two worker JVMs: each rank's summary names the precision, the
 * ranks agree bitwise, delayed scaling's final loss is one process's within 1e-4, and the bytes per step are the
 * analytic count from the model's shapes (FP8 codes in the gathers, the amax agreements, FP32 reduce-scatter).
 */
@Timeout(600)
class StageThreeFp8CommandTest {
    @Test
    void perTensorFp8TrainsAtStageThreeOnTwoWorkers() throws Exception {
        Gpt model = new Gpt(new GptConfig(256, new AdditionTask(2).context(), 32, 2, 1, 0f), new Rng(0)); // RUN's shapes
        for (String precision : new String[] {"fp8", "fp8-current", "mxfp8", "fp8-blockwise"}) {
            List<JsonNode> ranks = ShardedTrainCommandTest.workers(2, CliRunner.args(RUN, "--zero", "3", "--precision", precision));
            long expected = bytesPerStep(model, precision);
            for (int r = 0; r < 2; r++) {
                JsonNode j = ranks.get(r);
                String what = precision + " rank " + r + ": " + j;
                assertThat(j.get("precision").asText()).as(what).isEqualTo(precision);
                assertThat(j.get("zero_stage").asInt()).as(what).isEqualTo(3);
                assertThat(j.get("comm_bytes_sent_per_step").asLong()).as(what).isEqualTo(expected);
                assertThat(j.get("comm_bytes_received_per_step").asLong()).as(what).isEqualTo(expected);
                assertThat(j.get("final_loss")).as(what).isEqualTo(ranks.get(0).get("final_loss"));
            }
            if (!precision.equals("fp8")) continue;
            CliRunner.Result single = CliRunner.run(CliRunner.args(RUN, "--precision", precision));
            assertThat(single.exit()).as(single.err()).isZero();
            String[] lines = single.out().strip().split("\\R");
            double loss = CliRunner.MAPPER.readTree(lines[lines.length - 1]).get("final_loss").asDouble();
            assertThat(ranks.get(0).get("final_loss").asDouble()).as("delayed scaling vs one process")
                    .isCloseTo(loss, within(1e-4 * loss));
        }
    }

    /**
     * Ring-equivalent bytes one of 2 ranks sends per step: per unit (p = ⌈L/2⌉), two gathers of 2·⌈p/2⌉ bytes of packed
     * codes (if it has Linear weights) and 4·q of exact FP32 (q: the most non-Linear-weight elements in a piece), an
     * all-reduce of one amax per Linear weight in forward, the FP32 reduce-scatter 4·p; delayed scaling's activation and
     * gradient amaxes (2 × one float per Linear layer); the loss and norm, 8. MXFP8: one forward gather of codes and
     * exact elements, an all-reduce of one amax per block of 32 in a row, an FP32 backward gather 4·p. fp8-blockwise:
     * both gathers in FP8, an all-reduce of one amax per 128×128 block in forward.
     */
    static long bytesPerStep(Gpt model, String precision) {
        boolean delayed = precision.equals("fp8"), mx = precision.equals("mxfp8"), block = precision.equals("fp8-blockwise");
        long total = 8, linears = 0;
        for (int u = 0; u < model.unitCount(); u++) {
            List<int[]> params = new ArrayList<>();
            int length = 0, m = 0;
            for (var e : model.namedParameters().entrySet()) {
                if (model.unitOf(e.getKey()) != u) continue;
                boolean linear = e.getValue().dim() == 2 && u != 0;
                params.add(new int[] {length, e.getValue().numel(), linear ? 1 : 0});
                length += e.getValue().numel();
                if (linear) m++;
            }
            linears += m;
            long blocks = 0, squares = 0;
            for (var e : model.namedParameters().entrySet()) {
                if (model.unitOf(e.getKey()) == u && e.getValue().dim() == 2 && u != 0) {
                    int rows = e.getValue().shape()[0], cols = e.getValue().shape()[1];
                    blocks += (long) rows * ((cols + 31) / 32);
                    squares += (long) ((rows + 127) / 128) * ((cols + 127) / 128);
                }
            }
            int piece = (length + 1) / 2, q = 0;
            for (int r = 0; r < 2; r++) {
                int exact = 0;
                for (int[] k : params) {
                    if (k[2] == 0) exact += Math.max(0, Math.min(k[0] + k[1], (r + 1) * piece) - Math.max(k[0], r * piece));
                }
                q = Math.max(q, exact);
            }
            long forward = (m > 0 ? 2L * ((piece + 1) / 2) : 0) + 4L * q;
            total += mx ? forward + 4L * piece + 4L * blocks + 4L * piece // FP8 forward, block amaxes, FP32 backward
                    : 2 * forward + 4L * (block ? squares : m) + 4L * piece;
        }
        return total + (delayed ? 2 * 4 * linears : 0);
    }
}
