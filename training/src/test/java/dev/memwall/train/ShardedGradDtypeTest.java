package dev.memwall.train;

import dev.memwall.data.Batch;
import dev.memwall.memory.Category;
import dev.memwall.memory.MemoryTracker;
import dev.memwall.nn.Gpt;
import dev.memwall.optim.AdamW;
import dev.memwall.optim.LrSchedule;
import dev.memwall.precision.GradDtype;
import dev.memwall.precision.GradScaler;
import dev.memwall.precision.MixedPrecision;
import dev.memwall.precision.Precision;
import dev.memwall.rng.Rng;
import dev.memwall.sharding.ProcessGroup;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.List;

import static dev.memwall.train.DataParallelTest.ADAM;
import static dev.memwall.train.DataParallelTest.CONFIG;
import static dev.memwall.train.DataParallelTest.batches;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@code --grad-dtype bf16} on two ranks at ZeRO stages 0 and 1: each rank holds its gradients in BF16 (2 bytes per
 * element of GRADIENT), decodes them for the FP32 reduction, and the ranks end bitwise identical and close to one
 * process training in FP32.
 */
@Timeout(600)
class ShardedGradDtypeTest {
    record Seen(float[] params, long gradientPeak, long length) {
    }

    private static Seen train(ProcessGroup g, ZeroStage stage, GradDtype grads) {
        Gpt model = new Gpt(CONFIG, new Rng(7));
        DataParallel dp = DataParallel.of(model, g, stage);
        Trainer t = new Trainer(model, dp, new AdamW(dp.params(), dp.shard(), ADAM), LrSchedule.constant(ADAM.lr()), 1.0)
                .mixedPrecision(new MixedPrecision(Precision.FP32, GradScaler.disabled(), grads));
        long peak = 0;
        for (Batch b : batches(21, 6)) peak = Math.max(peak, t.step(b).peakBytes().get(Category.GRADIENT));
        return new Seen(dp.params().values().whole().toFloatArray(), peak, dp.params().length());
    }

    @Test
    void ranksHoldBf16GradientsAndStayIdenticalAtStagesZeroAndOne() {
        Seen single;
        float[] initial;
        try (var own = MemoryTracker.install(new MemoryTracker())) { // their bytes out of the ranks' figures
            initial = new Gpt(CONFIG, new Rng(7)).flatten().values().whole().toFloatArray();
            single = train(ProcessGroup.single(), ZeroStage.STAGE_0, GradDtype.FP32);
        }
        for (ZeroStage stage : List.of(ZeroStage.STAGE_0, ZeroStage.STAGE_1)) {
            long before = MemoryTracker.current().current(Category.GRADIENT); // what earlier stages' models still hold
            List<Seen> ranks = Ranks.run(2, g -> train(g, stage, GradDtype.BF16));
            // the tracker is per process and both ranks run in this JVM: two BF16 buffers, where FP32 would be 8 bytes per element
            for (Seen r : ranks) {
                assertThat(r.gradientPeak() - before).as(stage + ": 2 bytes per element per rank").isEqualTo(2 * 2 * r.length());
            }
            assertThat(ranks.get(1).params()).as(stage.toString()).isEqualTo(ranks.get(0).params());
            // Adam normalizes each element's step, so a rounded small gradient can move one element by up to lr per
            // step: compare the whole update, relative to FP32's
            float[] p = ranks.get(0).params();
            double diff = 0, norm = 0;
            for (int i = 0; i < initial.length; i++) {
                double ref = single.params()[i] - initial[i];
                diff += Math.pow(p[i] - initial[i] - ref, 2);
                norm += ref * ref;
            }
            assertThat(Math.sqrt(diff / norm)).as(stage + ": update against FP32's").isLessThan(0.05);
        }
    }
}
