package dev.memwall.train;

import dev.memwall.autograd.Scope;
import dev.memwall.nn.Gpt;
import dev.memwall.optim.AdamW;
import dev.memwall.optim.LrSchedule;
import dev.memwall.optim.StateFormat;
import dev.memwall.rng.Rng;
import dev.memwall.sharding.ProcessGroup;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static dev.memwall.train.DataParallelTest.ADAM;
import static dev.memwall.train.DataParallelTest.CONFIG;
import static dev.memwall.train.ShardedCheckpointTest.DATA;
import static dev.memwall.train.ShardedCheckpointTest.K;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * Compact AdamW moments (BF16, INT8) at the stages that regroup their state for a checkpoint (2 and 3): the regrouped
 * file holds what the moments decode to (and INT8's block absmaxes), so a run saved and resumed at the same world
 * size and stage continues bit-identically.
 */
@Timeout(600)
class CompactStateCheckpointTest {
    record Result(float[] params, long step) {
    }

    static Result run(ProcessGroup g, ZeroStage stage, StateFormat format, int steps, Path resume, Path save) {
        Gpt model = new Gpt(CONFIG, new Rng(7));
        DataParallel dp = DataParallel.of(model, g, stage);
        Trainer trainer = new Trainer(model, dp, new AdamW(dp.params(), dp.shard(), ADAM, format),
                LrSchedule.warmupCosine(ADAM.lr(), 3, 3 * K, ADAM.lr() / 10), 1.0);
        try {
            if (resume != null) TrainingState.resume(resume, trainer, Map.of());
            for (int i = 0; i < steps; i++) {
                try (Scope scope = Scope.open()) {
                    trainer.step(DATA.get((int) trainer.completedSteps()));
                }
            }
            if (save != null) TrainingState.save(save, trainer, Map.of(), null);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return new Result(dp.parameterValues(), trainer.completedSteps());
    }

    @Test
    void compactMomentsResumeBitIdenticallyAtStagesTwoAndThree(@TempDir Path dir) {
        for (ZeroStage stage : List.of(ZeroStage.STAGE_2, ZeroStage.STAGE_3)) {
            for (StateFormat format : List.of(StateFormat.BF16, StateFormat.INT8)) {
                Path d = dir.resolve(stage.name() + "-" + format);
                List<Result> straight = Ranks.run(2, g -> run(g, stage, format, 2 * K, null, null));
                Ranks.run(2, g -> run(g, stage, format, K, null, d));
                List<Result> resumed = Ranks.run(2, g -> run(g, stage, format, K, d, null));
                for (int r = 0; r < 2; r++) {
                    assertThat(resumed.get(r).step()).isEqualTo(2 * K);
                    assertThat(resumed.get(r).params()).as("%s %s rank %d", stage, format, r).isEqualTo(straight.get(r).params());
                }
            }
        }
    }
}
