package dev.memwall.train;

import dev.memwall.data.AdditionTask;
import dev.memwall.nn.FlatParameters;
import dev.memwall.nn.Gpt;
import dev.memwall.nn.GptConfig;
import dev.memwall.optim.AdamW;
import dev.memwall.optim.LrSchedule;
import dev.memwall.rng.Rng;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class TrainingStateTest {
    private static final GptConfig CONFIG = new GptConfig(256, 10, 32, 2, 2, 0.1f); // dropout on: its RNG must resume too
    private static final AdditionTask TASK = new AdditionTask(2);

    private record Run(Trainer trainer, Rng data, Rng dropout) {
        Map<String, Rng> rngs() {
            return Map.of("data", data, "dropout", dropout);
        }
    }

    private static Run newRun() {
        Rng dropout = new Rng(77);
        Gpt model = new Gpt(CONFIG, new Rng(1), dropout);
        FlatParameters flat = model.flatten();
        AdamW opt = new AdamW(flat, AdamW.Config.defaults(2e-3));
        return new Run(new Trainer(model, flat, opt, LrSchedule.warmupCosine(2e-3, 3, 12, 2e-4), 1.0), new Rng(2), dropout);
    }

    private static void steps(Run r, int n) {
        for (int i = 0; i < n; i++) r.trainer().step(TASK.trainBatch(8, r.data()));
    }

    @Test
    void resumedRunContinuesBitIdentically(@TempDir Path dir) throws IOException {
        Run straight = newRun();
        steps(straight, 12);

        Run first = newRun();
        steps(first, 5);
        TrainingState.save(dir, first.trainer(), first.rngs(), null);
        Run resumed = newRun();
        TrainingState.resume(dir, resumed.trainer(), resumed.rngs());
        assertThat(resumed.trainer().completedSteps()).isEqualTo(5);
        steps(resumed, 7);

        float[] a = straight.trainer().params().values().whole().toFloatArray();
        float[] b = resumed.trainer().params().values().whole().toFloatArray();
        assertThat(b).containsExactly(a);
        assertThat(resumed.trainer().optimizer().stateTensors().get("exp_avg_sq").toFloatArray())
                .containsExactly(straight.trainer().optimizer().stateTensors().get("exp_avg_sq").toFloatArray());
    }

    @Test
    void latestPointsAtTheNewestCompleteCheckpointAndOldOnesArePruned(@TempDir Path dir) throws IOException {
        Run r = newRun();
        for (int k = 0; k < 4; k++) {
            steps(r, 1);
            TrainingState.save(dir, r.trainer(), r.rngs(), null);
        }
        assertThat(Files.readString(dir.resolve("latest")).trim()).isEqualTo("step-000004");
        try (var s = Files.list(dir)) {
            assertThat(s.map(p -> p.getFileName().toString()).sorted()).containsExactly("latest", "step-000003", "step-000004");
        }
        assertThat(TrainingState.inspect(dir).config()).isEqualTo(CONFIG);
    }

    @Test
    void aMismatchedOrDamagedCheckpointIsRejectedBeforeAnythingLoads(@TempDir Path dir) throws IOException {
        Run r = newRun();
        steps(r, 2);
        TrainingState.save(dir, r.trainer(), r.rngs(), null);
        Run other = newRun();
        float[] before = other.trainer().params().values().whole().toFloatArray();
        // Truncate the optimizer file: the model file is fine, but nothing may be loaded.
        Path opt = dir.resolve("step-000002").resolve("optimizer.safetensors");
        byte[] bytes = Files.readAllBytes(opt);
        Files.write(opt, java.util.Arrays.copyOf(bytes, bytes.length - 5));
        assertThatThrownBy(() -> TrainingState.resume(dir, other.trainer(), other.rngs())).hasMessageContaining("optimizer.safetensors");
        assertThat(other.trainer().params().values().whole().toFloatArray()).containsExactly(before);
        assertThat(other.trainer().completedSteps()).isZero();
        assertThatThrownBy(() -> TrainingState.inspect(dir.resolve("nothing-here"))).hasMessageContaining("not a directory of saved training state");
    }

    /** The same state saved twice gives the same bytes, whatever order the RNG map iterates in. */
    @Test
    void savingTheSameStateTwiceGivesIdenticalFiles(@TempDir Path dir) throws IOException {
        Run r = newRun();
        steps(r, 2);
        Map<String, Rng> forward = new java.util.LinkedHashMap<>(), backward = new java.util.LinkedHashMap<>();
        forward.put("data", r.data());
        forward.put("dropout", r.dropout());
        backward.put("dropout", r.dropout());
        backward.put("data", r.data());
        Path a = TrainingState.save(dir.resolve("a"), r.trainer(), forward, null);
        Path b = TrainingState.save(dir.resolve("b"), r.trainer(), backward, null);
        for (String f : new String[]{"model.safetensors", "optimizer.safetensors", "state.json"}) {
            assertThat(Files.readAllBytes(b.resolve(f))).as(f).isEqualTo(Files.readAllBytes(a.resolve(f)));
        }
    }

    /** A killed run's half-written later checkpoint does not make pruning delete a complete one. */
    @Test
    void aHalfWrittenLaterCheckpointDoesNotPushOutACompleteOne(@TempDir Path dir) throws IOException {
        Run r = newRun();
        for (int k = 0; k < 2; k++) {
            steps(r, 1);
            TrainingState.save(dir, r.trainer(), r.rngs(), null);
        }
        Path stale = Files.createDirectories(dir.resolve("step-000009")); // as a kill during its save leaves it
        Files.write(stale.resolve("model.safetensors"), new byte[]{1, 2, 3});
        steps(r, 1);
        TrainingState.save(dir, r.trainer(), r.rngs(), null);
        assertThat(Files.readString(dir.resolve("latest")).trim()).isEqualTo("step-000003");
        assertThat(dir.resolve("step-000002").resolve("state.json")).as("the previous complete checkpoint").isRegularFile();
        assertThat(dir.resolve("step-000001")).doesNotExist();
    }

    /**
     * A checkpoint of format 1 (one process, written before sharded checkpoints: no world size, layout, shards or
     * digests in state.json) still resumes bit-identically.
     */
    @Test
    void aFormatOneCheckpointStillResumes(@TempDir Path dir) throws IOException {
        Run straight = newRun();
        steps(straight, 12);
        Run first = newRun();
        steps(first, 5);
        Path step = TrainingState.save(dir, first.trainer(), first.rngs(), null);
        var json = new com.fasterxml.jackson.databind.ObjectMapper();
        var state = (com.fasterxml.jackson.databind.node.ObjectNode) json.readTree(step.resolve("state.json").toFile());
        state.put("format", 1);
        state.remove(java.util.List.of("world_size", "zero_stage", "params", "layout", "model", "shards", "rank_rng"));
        Files.write(step.resolve("state.json"), json.writeValueAsBytes(state));
        Run resumed = newRun();
        TrainingState.resume(dir, resumed.trainer(), resumed.rngs());
        steps(resumed, 7);
        assertThat(resumed.trainer().params().values().whole().toFloatArray())
                .containsExactly(straight.trainer().params().values().whole().toFloatArray());
        assertThat(TrainingState.inspect(dir).worldSize()).isEqualTo(1);
    }
}
