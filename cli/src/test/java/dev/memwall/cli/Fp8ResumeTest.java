package dev.memwall.cli;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@code train --precision fp8 --save} then {@code --resume}: the run resumed from its step-2 checkpoint ends at step
 * 4 with the same loss, the same weights and the same amax histories, byte for byte, as the run that went on.
 */
class Fp8ResumeTest {
    private static final String[] RUN = {"train", "--dim", "16", "--layers", "1", "--heads", "2", "--batch", "4", "--digits", "2",
            "--eval-examples", "8", "--eval-every", "2", "--no-progress", "--json", "--steps", "4"};

    @TempDir
    Path dir;

    @Test
    void aResumedDelayedScalingRunEndsBitIdentical() throws Exception {
        Path straight = dir.resolve("straight"), resumed = dir.resolve("resumed");
        CliRunner.Result a = CliRunner.run(CliRunner.args(RUN, "--precision", "fp8", "--save", straight.toString()));
        assertThat(a.exit()).as("%s", a).isZero();
        Files.writeString(straight.resolve("latest"), "step-000002\n"); // resume from the checkpoint before the last

        CliRunner.Result b = CliRunner.run(CliRunner.args(RUN, "--resume", straight.toString(), "--save", resumed.toString()));
        assertThat(b.exit()).as("%s", b).isZero();
        JsonNode ja = a.lastJson(), jb = b.lastJson();
        assertThat(jb.get("precision").asText()).isEqualTo("fp8");
        assertThat(Double.doubleToRawLongBits(jb.get("final_loss").asDouble()))
                .isEqualTo(Double.doubleToRawLongBits(ja.get("final_loss").asDouble()));
        for (String file : new String[]{"model.safetensors", "fp8.safetensors"}) {
            assertThat(Files.readAllBytes(resumed.resolve("step-000004").resolve(file))).as(file)
                    .isEqualTo(Files.readAllBytes(straight.resolve("step-000004").resolve(file)));
        }
    }
}
