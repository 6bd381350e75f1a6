package dev.memwall.examples;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/** The launch example end to end: two worker JVMs train, and main prints their summaries in rank order. */
@Timeout(300)
class LaunchGptTest {
    @Test
    void mainLaunchesTwoWorkersAndPrintsTheirSummaries() throws Exception {
        PrintStream oldOut = System.out, oldErr = System.err;
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        try {
            System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
            System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
            LaunchGpt.main(new String[]{"50"});
        } finally {
            System.setOut(oldOut);
            System.setErr(oldErr);
        }
        List<String> lines = out.toString(StandardCharsets.UTF_8).lines().toList();
        assertThat(lines).as("stdout is the combined JSON object alone").hasSize(1);
        // with JSON collected, the workers' other stdout lines go to stderr, prefixed
        assertThat(err.toString(StandardCharsets.UTF_8)).contains("[rank 0] step 50 loss ").contains("[rank 1] step 50 loss ");
        JsonNode all = new ObjectMapper().readTree(lines.get(lines.size() - 1));
        assertThat(all.get("world_size").asInt()).isEqualTo(2);
        assertThat(all.get("exit_code").asInt()).isZero();
        for (int rank = 0; rank < 2; rank++) {
            JsonNode r = all.get("ranks").get(rank);
            assertThat(r.get("rank").asInt()).isEqualTo(rank);
            assertThat(r.get("world_size").asInt()).isEqualTo(2);
            assertThat(r.get("steps").asInt()).isEqualTo(50);
            assertThat(r.get("final_loss").asDouble()).isFinite().isLessThan(Math.log(256)); // below a uniform guess
            assertThat(r.get("zero_stage").asInt()).isEqualTo(1);
        }
        // one model trained on both: the global batch's loss is the same on each rank, and each rank holds parameters
        // and gradients whole (8 bytes per padded parameter) but only its half of the AdamW state
        JsonNode r0 = all.get("ranks").get(0), r1 = all.get("ranks").get(1);
        assertThat(r1.get("final_loss").asDouble()).isEqualTo(r0.get("final_loss").asDouble());
        assertThat(r1.get("model_state_bytes").asLong()).isEqualTo(r0.get("model_state_bytes").asLong());
    }
}
