package dev.memwall.train;

import dev.memwall.data.Batch;
import dev.memwall.nn.Gpt;
import dev.memwall.nn.GptConfig;
import dev.memwall.optim.AdaHessian;
import dev.memwall.optim.LrSchedule;
import dev.memwall.rng.Rng;
import dev.memwall.sharding.ProcessGroup;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * AdaHessian on two ranks at ZeRO stages 0 and 1 against one process on the same global batch: the ranks draw the
 * same z, sum their z ⊙ Hz like gradients (the reference's multi-process branch never averages), and at stage 1 each
 * keeps a third of its state per element of its shard: 12 bytes per owned element, 12Ψ/N in all.
 */
class AdaHessianShardedTest {
    private static final GptConfig CONFIG = new GptConfig(16, 6, 16, 2, 1, 0f);

    private record Run(float[] params, long stateBytes, int owned) {
    }

    private static Run train(ProcessGroup group, ZeroStage stage) {
        Gpt model = new Gpt(CONFIG, new Rng(2));
        DataParallel dp = DataParallel.of(model, group, stage);
        AdaHessian.Config cfg = AdaHessian.Config.defaults().withLr(0.02).withHessian(1, 4, 1, 2).withSeed(5);
        AdaHessian opt = new AdaHessian(dp.params(), dp.shard(), cfg);
        // from the optimizer's own tensors: ranks run in threads of one process and share its tracker
        long state = 0;
        for (var v : opt.stateTensors().values()) state += v.storage().bytes();
        Trainer t = new Trainer(model, dp, opt, LrSchedule.constant(0.02), 0);
        for (int s = 0; s < 3; s++) t.step(batch(4, 40 + s));
        return new Run(dp.params().values().whole().toFloatArray(), state, dp.shard().size());
    }

    private static Batch batch(int rows, long seed) {
        Rng r = new Rng(seed);
        int[] ids = new int[rows * CONFIG.context()], next = new int[ids.length];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = r.nextInt(CONFIG.vocab());
            next[i] = r.nextInt(CONFIG.vocab());
        }
        return new Batch(ids, next, rows, CONFIG.context());
    }

    @Test
    void twoRanksMatchOneProcessAndStageOneShardsTheThreeStateVectors() {
        Run single = train(ProcessGroup.single(), ZeroStage.STAGE_0);
        int psi = single.params().length;
        for (ZeroStage stage : List.of(ZeroStage.STAGE_0, ZeroStage.STAGE_1)) {
            List<Run> ranks = Ranks.run(2, g -> train(g, stage, 0));
            for (Run r : ranks) {
                for (int i = 0; i < psi; i++) {
                    assertThat((double) r.params()[i]).as("%s parameter %d", stage, i).isCloseTo(single.params()[i],
                            org.assertj.core.data.Offset.offset(1e-5 + 1e-5 * Math.abs(single.params()[i])));
                }
            }
            assertThat(ranks.get(0).params()).containsExactly(ranks.get(1).params());
            if (stage == ZeroStage.STAGE_1) {
                assertThat(ranks.get(0).owned() + ranks.get(1).owned()).isBetween(psi - 1, psi + 1);
                for (Run r : ranks) assertThat(r.stateBytes()).isEqualTo(12L * r.owned());
            }
        }
    }

    private static Run train(ProcessGroup g, ZeroStage stage, int unused) {
        return train(g, stage);
    }
}
