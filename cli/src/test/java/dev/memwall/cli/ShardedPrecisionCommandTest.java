package dev.memwall.cli;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static dev.memwall.cli.ShardedTrainCommandTest.MODEL;
import static dev.memwall.cli.ShardedTrainCommandTest.RUN;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@code train --precision P --zero S --reduce-dtype D} on two worker JVMs: every rank's summary carries precision,
 * loss_scale, skipped_steps and reduce_dtype, and its bytes per step follow the formats exactly; bad combinations are
 * refused before joining, naming what is wrong.
 */
@Timeout(600)
class ShardedPrecisionCommandTest {
    @Test
    void stageThreeInBf16WithBf16ReductionsOnTwoWorkers() throws Exception {
        String[] fp32 = CliRunner.args(RUN, "--zero", "3");
        String[] bf16 = CliRunner.args(RUN, "--zero", "3", "--precision", "bf16", "--reduce-dtype", "bf16");
        List<JsonNode> base = ShardedTrainCommandTest.workers(2, fp32);
        List<JsonNode> ranks = ShardedTrainCommandTest.workers(2, bf16);
        for (int r = 0; r < 2; r++) {
            JsonNode j = ranks.get(r), f = base.get(r);
            String what = "rank " + r + ": " + j;
            assertThat(j.get("precision").asText()).as(what).isEqualTo("bf16");
            assertThat(j.get("loss_scale").asDouble()).as(what).isEqualTo(1.0);
            assertThat(j.get("skipped_steps").asLong()).as(what).isZero();
            assertThat(j.get("reduce_dtype").asText()).as(what).isEqualTo("bf16");
            assertThat(f.get("reduce_dtype").asText()).isEqualTo("fp32");
            // FP32: 3 × 4 bytes × (N−1)·Σp_u + 8 scalar bytes; BF16 gathers and reductions: 3 × 2 bytes × the same
            long fp32Bytes = f.get("comm_bytes_sent_per_step").asLong(), scalars = 8;
            assertThat((fp32Bytes - scalars) % 12).as(what).isZero();
            long elements = (fp32Bytes - scalars) / 12;
            assertThat(j.get("comm_bytes_sent_per_step").asLong()).as(what).isEqualTo(6 * elements + scalars);
            assertThat(j.get("comm_bytes_received_per_step").asLong()).as(what).isEqualTo(6 * elements + scalars);
            assertThat(j.get("model_state_bytes")).as("FP32 masters, grads and moments: the same shards").isEqualTo(f.get("model_state_bytes"));
            double loss = f.get("final_loss").asDouble(); // against FP32 (ShardedPrecisionTest: against one BF16 process)
            assertThat(j.get("final_loss").asDouble()).as(what).isCloseTo(loss, org.assertj.core.data.Offset.offset(2e-2 * loss));
            assertThat(j.get("final_loss")).isEqualTo(ranks.get(0).get("final_loss"));
        }
        if (MpiTrainCommandTest.mpirun() == null || dev.memwall.sharding.mpi.MpiProcessGroup.unavailable() != null) return;
        // the same job under mpirun: Open MPI moves the 16-bit pieces, memwall sums them, so at N = 2 every figure and
        // every loss is the shared-memory backend's, bit for bit
        Path out = Files.createTempDirectory("memwall-mpi-");
        try {
            List<JsonNode> mpi = MpiTrainCommandTest.mpirun(2, out, bf16);
            for (int r = 0; r < 2; r++) {
                assertThat(mpi.get(r).get("backend").asText()).isEqualTo("mpi");
                for (String key : new String[] {"final_loss", "comm_bytes_sent_per_step", "comm_bytes_received_per_step",
                        "model_state_bytes", "precision", "reduce_dtype"}) {
                    assertThat(mpi.get(r).get(key)).as("mpi rank %d: %s", r, key).isEqualTo(ranks.get(r).get(key));
                }
            }
        } finally {
            ShardedTrainCommandTest.delete(out);
        }
    }

    /**
     * Stage 1 in BF16 (GEMM weights gathered in BF16, the rest exact): per rank exactly the FP32 layout's model state,
     * 4·N·s of parameters + 4·N·s of gradients (s = ⌈Ψ/N⌉, padding included) + 8 bytes per owned element of AdamW's m
     * and v — 8Ψ + 8Ψ/N up to the padding.
     */
    @Test
    void stageOneInBf16KeepsTheFp32ModelStateExactly() throws Exception {
        List<JsonNode> ranks = ShardedTrainCommandTest.workers(2, CliRunner.args(RUN, "--zero", "1", "--precision", "bf16"));
        long psi = ranks.get(0).get("params").asLong(), s = (psi + 1) / 2;
        for (int r = 0; r < 2; r++) {
            long owned = Math.min(s, psi - r * s);
            assertThat(ranks.get(r).get("model_state_bytes").asLong()).as("rank %d", r).isEqualTo(8 * 2 * s + 8 * owned);
            assertThat(ranks.get(r).get("precision").asText()).isEqualTo("bf16");
        }
    }

    @Test
    void badCombinationsAreRefusedBeforeJoining() throws Exception {
        assertRefused(new String[] {"--reduce-dtype", "fp16"}, "--reduce-dtype fp16: expected fp32 or bf16");
        CliRunner.Result single = CliRunner.run(CliRunner.args(RUN, "--reduce-dtype", "bf16"));
        assertThat(single.exit()).isEqualTo(2);
        assertThat(single.err()).contains("a single process sums nothing");
    }

    private static void assertRefused(String[] options, String message) throws Exception {
        Path dir = Files.createTempDirectory("memwall-save-");
        try {
            Process p = ShardedTrainCommandTest.start(0, 2, ShardedTrainCommandTest.newToken(), dir, CliRunner.args(MODEL, options));
            assertThat(p.waitFor(60, TimeUnit.SECONDS)).as("exits without waiting for rank 1").isTrue();
            String err = ShardedTrainCommandTest.stderr(p);
            assertThat(p.exitValue()).as(err).isEqualTo(2);
            assertThat(err).contains(message);
        } finally {
            ShardedTrainCommandTest.delete(dir);
        }
    }
}
