package dev.memwall.train;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.function.Consumer;

import static dev.memwall.train.ShardedCheckpointTest.Flat;
import static dev.memwall.train.ShardedCheckpointTest.run;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * What a crash during a sharded save leaves, and what a loader refuses: a manifest naming files that are missing,
 * of another size or content, or ranges that do not tile the flat buffer — each named, with nothing loaded.
 */
@Timeout(600)
class ShardedCheckpointFailureTest {
    /**
     * Rank 0 dies after every rank's shard is on disk and before the manifest is written (the widest window: all new
     * files present, nothing committed). The run directory still names the previous checkpoint, which resumes on
     * another world size with every byte of the state it had.
     */
    @Test
    void aCrashBetweenTheShardWritesAndTheCommitLeavesThePreviousCheckpointLoadable(@TempDir Path dir) throws IOException {
        Flat saved = Flat.of(run(2, ZeroStage.STAGE_1, j -> j.steps(2).save(dir)));
        TrainingState.beforeCommit = n -> {
            throw new IllegalStateException("injected crash before the commit");
        };
        try {
            assertThatThrownBy(() -> run(2, ZeroStage.STAGE_1, j -> j.resume(dir).steps(1).save(dir)))
                    .hasMessageContaining("injected crash");
        } finally {
            TrainingState.beforeCommit = n -> { };
        }
        assertThat(ShardedCheckpointTest.files(dir.resolve("step-000003"))).as("the new shards were written")
                .contains("optimizer-rank00000-of-00002.safetensors", "optimizer-rank00001-of-00002.safetensors")
                .doesNotContain("state.json");
        assertThat(Files.readString(dir.resolve("latest")).trim()).isEqualTo("step-000002");
        saved.assertBitIdentical(Flat.of(run(4, ZeroStage.STAGE_1, j -> j.resume(dir))), "previous checkpoint after the crash");
        // The next save of that step empties the half-written directory first and commits normally.
        run(2, ZeroStage.STAGE_1, j -> j.resume(dir).steps(1).save(dir));
        assertThat(Files.readString(dir.resolve("latest")).trim()).isEqualTo("step-000003");
    }

    /** Saves a two-rank stage-1 checkpoint, damages it with {@code damage}, and expects resume to fail with {@code message}. */
    private static void refused(Path dir, Consumer<Path> damage, String... message) {
        run(2, ZeroStage.STAGE_1, j -> j.steps(1).save(dir));
        damage.accept(dir.resolve("step-000001"));
        for (int n : new int[] {1, 2}) {
            List<String> errors = Ranks.run(n, g -> {
                ShardedCheckpointTest.Job j = new ShardedCheckpointTest.Job(g, ZeroStage.STAGE_1);
                float[] before = j.trainer.params().values().whole().toFloatArray();
                float[] m = j.trainer.optimizer().stateTensors().get("exp_avg").toFloatArray();
                try {
                    TrainingState.resume(dir, j.trainer, j.rngs());
                    return "resumed";
                } catch (IOException e) {
                    assertThat(j.trainer.params().values().whole().toFloatArray()).as("nothing loaded").isEqualTo(before);
                    assertThat(j.trainer.optimizer().stateTensors().get("exp_avg").toFloatArray()).as("nothing loaded").isEqualTo(m);
                    assertThat(j.trainer.completedSteps()).isZero();
                    return e.getMessage();
                }
            });
            for (String e : errors) assertThat(e).contains(message);
        }
    }

    private static final String SHARD1 = "optimizer-rank00001-of-00002.safetensors";

    @Test
    void aMissingShardIsRefusedByName(@TempDir Path dir) {
        refused(dir, step -> uncheck(() -> Files.delete(step.resolve(SHARD1))), SHARD1, "missing");
    }

    @Test
    void aTruncatedShardIsRefusedByName(@TempDir Path dir) {
        refused(dir, step -> uncheck(() -> {
            byte[] b = Files.readAllBytes(step.resolve(SHARD1));
            Files.write(step.resolve(SHARD1), Arrays.copyOf(b, b.length - 4));
        }), SHARD1, "bytes, but", "records");
    }

    /** Same size, one bit different: only the digest can tell. */
    @Test
    void aCorruptShardOfTheRightSizeIsRefusedByItsDigest(@TempDir Path dir) {
        refused(dir, step -> uncheck(() -> {
            byte[] b = Files.readAllBytes(step.resolve(SHARD1));
            b[b.length - 1] ^= 1;
            Files.write(step.resolve(SHARD1), b);
        }), SHARD1, "SHA-256");
    }

    /** Another run's shard put in place of this one's: right name, wrong content. */
    @Test
    void aShardFromAnotherCheckpointIsRefused(@TempDir Path dir) {
        Path other = dir.resolve("other");
        run(2, ZeroStage.STAGE_1, j -> j.steps(2).save(other));
        refused(dir.resolve("run"), step -> uncheck(() -> Files.copy(other.resolve("step-000002").resolve(SHARD1), step.resolve(SHARD1),
                java.nio.file.StandardCopyOption.REPLACE_EXISTING)), SHARD1);
    }

    @Test
    void aManifestWhoseRangesDoNotTileTheBufferIsRefused(@TempDir Path dir) {
        refused(dir, step -> editManifest(step, m -> ((ObjectNode) m.withArray("shards").get(1)).put("from", 5)),
                "state.json", "does not continue the ranges");
        refused(dir.resolve("b"), step -> editManifest(step, m -> ((ArrayNode) m.withArray("shards")).remove(1)),
                "state.json", "the shards cover");
    }

    @Test
    void aMissingOrUnreadableManifestIsRefused(@TempDir Path dir) {
        refused(dir, step -> uncheck(() -> Files.delete(step.resolve("state.json"))), "state.json", "missing");
        refused(dir.resolve("b"), step -> uncheck(() -> Files.writeString(step.resolve("state.json"), "{\"format\": 2, ")),
                "state.json", "not valid JSON");
    }

    private static void editManifest(Path step, Consumer<ObjectNode> edit) {
        uncheck(() -> {
            ObjectMapper json = new ObjectMapper();
            ObjectNode m = (ObjectNode) json.readTree(step.resolve("state.json").toFile());
            edit.accept(m);
            Files.write(step.resolve("state.json"), json.writeValueAsBytes(m));
        });
    }

    interface IoAction {
        void run() throws IOException;
    }

    private static void uncheck(IoAction a) {
        try {
            a.run();
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}
