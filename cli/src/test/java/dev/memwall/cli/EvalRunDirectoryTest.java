package dev.memwall.cli;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

/**
 * {@code eval --weights} takes a {@code train --save} run, one of its step directories or that directory's
 * model.safetensors, with the shape from state.json, and by default evaluates every full window of --data.
 * The reference is eval of the same weights as a bare file with every option given, all windows in one batch (that
 * path is checked against an independent model in {@link EvalCommandTest}).
 */
class EvalRunDirectoryTest {
    static final int CTX = 16, WINDOWS = (3000 - 1) / CTX;

    @TempDir
    static Path dir;
    static Path run, data, bare;
    static JsonNode reference;

    @BeforeAll
    static void trainAndSave() throws IOException {
        run = dir.resolve("run");
        data = dir.resolve("data.bin");
        TinyGptFiles.writeRandomBytes(data, 3000, 256, 4);
        CliRunner.Result r = CliRunner.run("train", "--data", data.toString(), "--ctx", Integer.toString(CTX), "--steps", "2",
                "--dim", "16", "--layers", "1", "--heads", "2", "--batch", "4", "--eval-examples", "8", "--no-progress",
                "--save", run.toString());
        assertThat(r.exit()).as("%s", r).isZero();
        bare = Files.copy(run.resolve("step-000002/model.safetensors"), dir.resolve("bare.safetensors"));
        reference = eval("--weights", bare.toString(), "--heads", "2", "--ctx", Integer.toString(CTX), "--batch",
                Integer.toString(WINDOWS), "--batches", "1");
        assertThat(reference.get("tokens").asLong()).isEqualTo((long) WINDOWS * CTX);
    }

    private static JsonNode eval(String... args) {
        CliRunner.Result r = CliRunner.run(CliRunner.args(CliRunner.args(new String[]{"eval", "--data", data.toString(), "--json"}), args));
        assertThat(r.exit()).as("%s", r).isZero();
        return r.lastJson();
    }

    private static void assertSameAsReference(JsonNode j) {
        assertThat(j.get("tokens").asLong()).isEqualTo(reference.get("tokens").asLong());
        double loss = reference.get("loss").asDouble(), norm = reference.get("grad_norm").asDouble();
        assertThat(j.get("loss").asDouble()).isCloseTo(loss, within(1e-6 * loss));
        assertThat(j.get("grad_norm").asDouble()).isCloseTo(norm, within(1e-5 * norm));
    }

    @Test
    void aRunOrStepDirectoryNeedsNoShapeOptions() {
        for (Path w : new Path[]{run, run.resolve("step-000002"), run.resolve("step-000002/model.safetensors")}) {
            assertSameAsReference(eval("--weights", w.toString()));
        }
    }

    /** Every full window by default, in batches of 16 and a last one of 187 - 11·16 = 11; or of --batch 5. */
    @Test
    void everyFullWindowByDefaultWhateverTheBatch() {
        assertSameAsReference(eval("--weights", bare.toString(), "--heads", "2", "--ctx", Integer.toString(CTX)));
        assertSameAsReference(eval("--weights", run.toString(), "--batch", "5"));
    }

    @Test
    void optionsStillOverrideTheRunsShape() {
        JsonNode shorter = eval("--weights", run.toString(), "--ctx", "8", "--batches", "2");
        assertThat(shorter.get("tokens").asLong()).isEqualTo(16L * 2 * 8);
        CliRunner.Result r = CliRunner.run("eval", "--data", data.toString(), "--weights", run.toString(), "--heads", "4");
        assertThat(r.exit()).as("%s", r).isZero();
        assertThat(r.errLines().get(0)).startsWith("model: GPT L1 D16 H4 ctx16");
    }
}
