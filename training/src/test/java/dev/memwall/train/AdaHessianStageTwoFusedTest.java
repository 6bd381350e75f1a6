package dev.memwall.train;

import dev.memwall.checkpoint.Checkpointing;
import dev.memwall.checkpoint.Policy;
import dev.memwall.data.Batch;
import dev.memwall.memory.Category;
import dev.memwall.nn.Gpt;
import dev.memwall.nn.GptConfig;
import dev.memwall.optim.AdaHessian;
import dev.memwall.optim.LrSchedule;
import dev.memwall.optim.Shard;
import dev.memwall.rng.Rng;
import dev.memwall.sharding.ProcessGroup;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.data.Offset.offset;

/**
 * AdaHessian at ZeRO stage 2 on the fused forward-over-reverse pass (two ranks on threads of this JVM, real
 * shared-memory groups): the step takes the pass, not the createGraph fallback (its activation peak is the pass's,
 * far below a createGraph backward's, the two ranks' together), and each rank's Hessian estimate over its pieces is |Σ z ⊙ Hz| of the global
 * loss — the products summed over micro-batches and ranks before the absolute value, as one process computes it —
 * with losses and parameters within 1e-5 of one process on the same global batches. Stage 3 is refused.
 */
@Timeout(600)
class AdaHessianStageTwoFusedTest {
    private static final GptConfig CONFIG = new GptConfig(16, 6, 16, 2, 2, 0f);
    private static final int STEPS = 3;

    private record Run(float[] params, float[] losses, float[] hessian, Shard shard, long activationPeak, HessianProducts.Kind route) {
    }

    /** ε 1e-2: an element's |z ⊙ Hz| from one draw can be near 0 (see {@code AdaHessianStageTwoTest#config}). */
    private static AdaHessian.Config config(int block) {
        return new AdaHessian.Config(0.02, 0.9, 0.999, 1e-2, 0, 1, block, 1, 1, 5);
    }

    private static Run train(ProcessGroup group, ZeroStage stage, AdaHessian.Config cfg, Policy policy, HessianPath path) {
        Gpt model = new Gpt(CONFIG, new Rng(2));
        DataParallel dp = DataParallel.of(model, group, stage);
        if (policy != null) Checkpointing.install(model, policy);
        { // one tracker counts the process: with ranks on threads its peaks are the two ranks' together
            Trainer t = new Trainer(model, dp, new AdaHessian(dp.params(), dp.shard(), cfg), LrSchedule.constant(0.02), 0)
                    .hessianPath(path);
            HessianProducts.Kind route = HessianProducts.route(path, model, policy, dp, null).kind();
            float[] losses = new float[STEPS];
            long activations = 0;
            for (int s = 0; s < STEPS; s++) {
                StepStats st = t.step(AdaHessianStageTwoTest.batch(4, 70 + 2 * s), AdaHessianStageTwoTest.batch(4, 71 + 2 * s));
                losses[s] = (float) st.loss();
                activations = Math.max(activations, st.peakBytes().getOrDefault(Category.ACTIVATION, 0L));
            }
            float[] hessian = t.optimizer().stateTensors().get("hessian").toFloatArray();
            return new Run(dp.parameterValues(), losses, hessian, dp.shard(), activations, route);
        }
    }

    @Test
    void stageTwoTakesTheFusedPassAndItsActivationPeak() {
        AdaHessian.Config cfg = config(1);
        List<Run> fused = Ranks.run(2, g -> train(g, ZeroStage.STAGE_2, cfg, null, HessianPath.FORWARD_OVER_REVERSE));
        List<Run> graph = Ranks.run(2, g -> train(g, ZeroStage.STAGE_2, cfg, null, HessianPath.CREATE_GRAPH));
        for (int r = 0; r < 2; r++) {
            assertThat(fused.get(r).route()).isEqualTo(HessianProducts.Kind.FORWARD_OVER_REVERSE);
            assertThat(graph.get(r).route()).isEqualTo(HessianProducts.Kind.CREATE_GRAPH);
            assertThat(fused.get(r).activationPeak()).as("rank %d", r).isPositive().isLessThan(graph.get(r).activationPeak() / 2);
        }
    }

    /** Stage 3 gathers parameters one unit at a time, which no route follows: refused with a way out, before any step. */
    @Test
    void stageThreeIsRefusedBeforeAnyStepNamingStageTwo() {
        List<String> refusals = Ranks.run(2, g -> {
            Gpt model = new Gpt(CONFIG, new Rng(2));
            DataParallel dp = DataParallel.of(model, g, ZeroStage.STAGE_3);
            AdaHessian adaHessian = new AdaHessian(dp.params(), dp.shard(), config(1));
            try {
                new Trainer(model, dp, adaHessian, LrSchedule.constant(0.02), 0);
                return null;
            } catch (IllegalArgumentException e) {
                return e.getMessage();
            }
        });
        for (String message : refusals) {
            assertThat(message).isNotNull().contains("AdaHessian does not train at ZeRO stage 3").contains("--zero 2");
        }
    }

    @Test
    void twoRanksOnTheFusedPassMatchOneProcess() {
        for (int block : new int[] {1, 4}) {
            for (Policy policy : new Policy[] {null, Policy.everyLayer(CONFIG.layers())}) {
                AdaHessian.Config cfg = config(block);
                String what = "block " + block + (policy == null ? "" : ", EVERY_LAYER");
                Run single = train(ProcessGroup.single(), ZeroStage.STAGE_0, cfg, policy, HessianPath.FORWARD_OVER_REVERSE);
                List<Run> ranks = Ranks.run(2, g -> train(g, ZeroStage.STAGE_2, cfg, policy, HessianPath.FORWARD_OVER_REVERSE));
                for (Run r : ranks) {
                    assertThat(r.route()).isEqualTo(HessianProducts.Kind.FORWARD_OVER_REVERSE);
                    for (int s = 0; s < STEPS; s++) {
                        assertThat((double) r.losses()[s]).as("%s: loss of step %d", what, s + 1)
                                .isCloseTo(single.losses()[s], offset(1e-5 * Math.abs(single.losses()[s])));
                    }
                    for (int i = 0; i < single.params().length; i++) {
                        assertThat((double) r.params()[i]).as("%s: parameter %d", what, i).isCloseTo(single.params()[i],
                                offset(1e-5 + 1e-5 * Math.abs(single.params()[i])));
                    }
                    assertEstimateIsTheGlobalOne(what, r, single.hessian());
                }
                assertThat(ranks.get(0).params()).containsExactly(ranks.get(1).params());
            }
        }
    }

    /** The rank's D over its pieces equals one process's D at the same flat indices (relative L2 within 1e-4). */
    private static void assertEstimateIsTheGlobalOne(String what, Run rank, float[] whole) {
        Shard shard = rank.shard();
        double diff = 0, norm = 0;
        int at = 0;
        for (int p = 0; p < shard.starts().length; p++) {
            for (int j = 0; j < shard.lengths()[p]; j++, at++) {
                double ref = whole[shard.starts()[p] + j], got = rank.hessian()[at];
                diff += (got - ref) * (got - ref);
                norm += ref * ref;
            }
        }
        assertThat(at).isEqualTo(rank.hessian().length);
        assertThat(norm).as(what).isGreaterThan(1e-8);
        assertThat(Math.sqrt(diff / norm)).as("%s: the rank's Hessian estimate against one process's", what).isLessThan(1e-4);
    }
}
