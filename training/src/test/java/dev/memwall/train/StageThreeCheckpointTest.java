package dev.memwall.train;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import dev.memwall.autograd.Tensor;
import dev.memwall.io.SafeTensors;
import dev.memwall.nn.Gpt;
import dev.memwall.rng.Rng;

import static dev.memwall.train.ShardedCheckpointTest.K;
import static dev.memwall.train.ShardedCheckpointTest.files;
import static dev.memwall.train.ShardedCheckpointTest.run;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * ZeRO stage 3 saves the stage-1 checkpoint — model.safetensors with full PyTorch-named parameters (gathered unit by
 * unit) and each rank's contiguous range of optimizer state (regrouped from its piece of every unit) — so its
 * checkpoints reshard across world sizes and stages both ways, and a stage-3 run continues bit-identically at its own
 * world size after passing through others.
 */
@Timeout(600)
class StageThreeCheckpointTest {
    /**
     * Saved on 2 ranks at stage 3, resumed on 4 at stage 1, on 1 at stage 0, on 4 at stage 3 (a world size that cuts
     * every unit elsewhere) and on 3 at stage 2; a stage-1 and a stage-0 checkpoint resumed at stage 3: every byte of
     * the flat state comes back, and each rank's own dropout stream where the rank existed.
     */
    @Test
    void stageThreeCheckpointsReshardAcrossWorldSizesAndStages(@TempDir Path dir) throws IOException {
        List<ShardedCheckpointTest.Snapshot> two = run(2, ZeroStage.STAGE_3, j -> j.steps(K).save(dir.resolve("a")));
        ShardedCheckpointTest.Flat saved = ShardedCheckpointTest.Flat.of(two);
        var info = TrainingState.inspect(dir.resolve("a"));
        assertThat(List.of(info.zeroStage(), info.worldSize())).isEqualTo(List.of(3, 2));
        assertThat(files(dir.resolve("a/step-00000" + K))).as("the stage-1 files: one range per rank")
                .containsExactly("model.safetensors", "optimizer-rank00000-of-00002.safetensors",
                        "optimizer-rank00001-of-00002.safetensors", "state.json");
        List<ShardedCheckpointTest.Snapshot> four = run(4, ZeroStage.STAGE_1, j -> j.resume(dir.resolve("a")).save(dir.resolve("b")));
        saved.assertBitIdentical(ShardedCheckpointTest.Flat.of(four), "2 at stage 3 → 4 at stage 1");
        for (int r = 0; r < 2; r++) assertThat(four.get(r).dropout()).as("rank %d's own stream", r).isEqualTo(two.get(r).dropout());
        saved.assertBitIdentical(ShardedCheckpointTest.Flat.of(run(1, ZeroStage.STAGE_0, j -> j.resume(dir.resolve("a")).save(dir.resolve("c")))),
                "2 at stage 3 → 1 at stage 0");
        saved.assertBitIdentical(ShardedCheckpointTest.Flat.of(run(4, ZeroStage.STAGE_3, j -> j.resume(dir.resolve("a")).save(dir.resolve("d")))),
                "2 at stage 3 → 4 at stage 3");
        saved.assertBitIdentical(ShardedCheckpointTest.Flat.of(run(3, ZeroStage.STAGE_2, j -> j.resume(dir.resolve("d")))),
                "4 at stage 3 → 3 at stage 2");
        saved.assertBitIdentical(ShardedCheckpointTest.Flat.of(run(2, ZeroStage.STAGE_3, j -> j.resume(dir.resolve("b")))),
                "4 at stage 1 → 2 at stage 3");
        saved.assertBitIdentical(ShardedCheckpointTest.Flat.of(run(3, ZeroStage.STAGE_3, j -> j.resume(dir.resolve("c")))),
                "1 at stage 0 → 3 at stage 3");
    }

    /**
     * A two-rank stage-3 run saved at step K, passed through 4 ranks at stage 1 and one process at stage 0, then resumed
     * on two ranks at stage 3, ends K steps later exactly as the run that never stopped.
     */
    @Test
    void aStageThreeRunPassedThroughOtherWorldSizesAndStagesContinuesBitIdentically(@TempDir Path dir) {
        List<ShardedCheckpointTest.Snapshot> straight = run(2, ZeroStage.STAGE_3, j -> j.steps(2 * K));
        run(2, ZeroStage.STAGE_3, j -> j.steps(K).save(dir.resolve("a")));
        run(4, ZeroStage.STAGE_1, j -> j.resume(dir.resolve("a")).save(dir.resolve("b")));
        run(1, ZeroStage.STAGE_0, j -> j.resume(dir.resolve("b")).save(dir.resolve("c")));
        List<ShardedCheckpointTest.Snapshot> resumed = run(2, ZeroStage.STAGE_3, j -> j.resume(dir.resolve("c")).steps(K));
        ShardedCheckpointTest.Flat.of(straight).assertBitIdentical(ShardedCheckpointTest.Flat.of(resumed),
                "2 at stage 3 → 4 (stage 1) → 1 (stage 0) → 2 at stage 3, then K steps");
    }

    /** The model file a stage-3 save writes is the one a stage-1 save of the same state writes, byte for byte. */
    @Test
    void theModelFileIsTheOneStageOneWrites(@TempDir Path dir) throws IOException {
        run(2, ZeroStage.STAGE_3, j -> j.steps(K).save(dir.resolve("a")));
        run(2, ZeroStage.STAGE_1, j -> j.resume(dir.resolve("a")).save(dir.resolve("b")));
        Path step = Path.of("step-00000" + K);
        assertThat(Files.readAllBytes(dir.resolve("a").resolve(step).resolve("model.safetensors")))
                .isEqualTo(Files.readAllBytes(dir.resolve("b").resolve(step).resolve("model.safetensors")));
        for (String f : List.of("optimizer-rank00000-of-00002.safetensors", "optimizer-rank00001-of-00002.safetensors")) {
            assertThat(Files.readAllBytes(dir.resolve("a").resolve(step).resolve(f))).as(f)
                    .isEqualTo(Files.readAllBytes(dir.resolve("b").resolve(step).resolve(f)));
        }
    }

    /**
     * A model file that does not hold the model's parameters as FP32 tensors of their shapes is refused naming the
     * tensor, before any rank reads its pieces (the digests of a checkpoint stop a changed file earlier; this is the
     * check behind them).
     */
    @Test
    void aModelFileOfOtherTensorsIsRefusedNamingTheTensor(@TempDir Path dir) throws IOException {
        Map<String, Tensor> named = new java.util.LinkedHashMap<>(new Gpt(DataParallelTest.CONFIG, new Rng(7)).namedParameters());
        String first = named.keySet().iterator().next();
        Path wrongShape = dir.resolve("shape.safetensors"), missing = dir.resolve("missing.safetensors");
        Map<String, Tensor> reshaped = new java.util.LinkedHashMap<>(named);
        reshaped.put(first, Tensor.zeros(1, named.get(first).numel()));
        SafeTensors.write(wrongShape, reshaped, null);
        Map<String, Tensor> renamed = new java.util.LinkedHashMap<>();
        named.forEach((k, t) -> renamed.put(k.equals(first) ? "other.weight" : k, t));
        SafeTensors.write(missing, renamed, null);
        List<String> errors = Ranks.run(2, g -> {
            DataParallel dp = DataParallel.of(new Gpt(DataParallelTest.CONFIG, new Rng(7)), g, ZeroStage.STAGE_3);
            StringBuilder out = new StringBuilder();
            for (Path f : List.of(wrongShape, missing)) {
                try {
                    UnitParameters.read(f, dp);
                    out.append("read ").append(f).append('\n');
                } catch (IOException e) {
                    out.append(e.getMessage()).append('\n');
                }
            }
            return out.toString();
        });
        for (String e : errors) {
            assertThat(e).contains(wrongShape + ": " + first + " is ").contains("the model's parameter is F32" + java.util.Arrays.toString(named.get(first).shape()))
                    .contains(missing + ": no tensor " + first);
        }
    }
}
