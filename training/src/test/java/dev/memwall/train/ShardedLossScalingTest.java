package dev.memwall.train;

import dev.memwall.data.Batch;
import dev.memwall.nn.Gpt;
import dev.memwall.optim.AdamW;
import dev.memwall.optim.LrSchedule;
import dev.memwall.precision.GradScaler;
import dev.memwall.precision.MixedPrecision;
import dev.memwall.precision.Precision;
import dev.memwall.rng.Rng;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.List;

import static dev.memwall.train.DataParallelTest.ADAM;
import static dev.memwall.train.DataParallelTest.CONFIG;
import static dev.memwall.train.DataParallelTest.batches;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * FP16 with loss scaling on two ranks at every ZeRO stage (stage 3 gathering its units in FP16): each rank unscales and checks only the gradients it owns,
 * the inf/NaN flag is agreed before anyone steps, so the ranks skip the same steps, keep the same scale and end with
 * bitwise identical parameters. A start scale of 2^40 makes the first steps overflow.
 */
@Timeout(600)
class ShardedLossScalingTest {
    record Seen(float[] params, long skipped, float scale) {
    }

    private static Seen train(dev.memwall.sharding.ProcessGroup g, ZeroStage stage) {
        Gpt model = new Gpt(CONFIG, new Rng(7));
        DataParallel dp = DataParallel.of(model, g, stage);
        GradScaler scaler = GradScaler.dynamic(0x1p40f, 2.0, 0.5, 2000);
        Trainer t = new Trainer(model, dp, new AdamW(dp.params(), dp.shard(), ADAM), LrSchedule.constant(ADAM.lr()), 1.0)
                .mixedPrecision(new MixedPrecision(Precision.FP16, scaler));
        List<Batch> data = batches(21, 20);
        for (Batch b : data) t.step(b);
        return new Seen(dp.parameterValues(), scaler.skippedSteps(), scaler.scale()); // gathered at stage 3
    }

    /**
     * An overflow that only one rank can see (a NaN in rank 0's ZeRO-1 range; rank 1 checks only its own range): both
     * ranks skip, because the flag is agreed before either steps.
     */
    @Test
    void anOverflowOnOneRankSkipsTheStepOnEveryRank() {
        List<long[]> ranks = Ranks.run(2, g -> {
            Gpt model = new Gpt(CONFIG, new Rng(7));
            DataParallel dp = DataParallel.of(model, g, ZeroStage.STAGE_1);
            float[] grads = dp.params().grads().whole().data();
            java.util.Arrays.fill(grads, 1f);
            if (g.rank() == 0) grads[dp.from()] = Float.NaN;
            GradScaler scaler = GradScaler.dynamic();
            long[] updates = {0};
            MixedPrecisionStep.unscaleAndStep(scaler, dp, () -> updates[0]++);
            return new long[]{updates[0], scaler.skippedSteps(), Float.floatToIntBits(scaler.scale())};
        });
        for (long[] r : ranks) {
            assertThat(r[0]).as("no rank updates").isZero();
            assertThat(r[1]).isOne();
            assertThat(Float.intBitsToFloat((int) r[2])).isEqualTo(32768f);
        }
    }

    @Test
    void ranksSkipTheSameStepsAndStayIdenticalAtEveryStage() {
        for (ZeroStage stage : ZeroStage.values()) { // stage 3 gathers in FP16 and checks its gradient shard
            List<Seen> ranks = Ranks.run(2, g -> train(g, stage));
            assertThat(ranks.get(0).skipped()).as(stage + ": overflowing steps were skipped").isPositive();
            assertThat(ranks.get(0).skipped()).as(stage + ": some steps were taken").isLessThan(20);
            assertThat(ranks.get(1).skipped()).as(stage.toString()).isEqualTo(ranks.get(0).skipped());
            assertThat(ranks.get(1).scale()).isEqualTo(ranks.get(0).scale());
            assertThat(ranks.get(1).params()).as(stage.toString()).isEqualTo(ranks.get(0).params());
        }
    }
}
