package dev.memwall.train;

import dev.memwall.checkpoint.Checkpointing;
import dev.memwall.checkpoint.Policy;
import dev.memwall.data.Batch;
import dev.memwall.memory.Category;
import dev.memwall.memory.MemoryTracker;
import dev.memwall.nn.FlatParameters;
import dev.memwall.nn.Gpt;
import dev.memwall.nn.GptConfig;
import dev.memwall.optim.AdaHessian;
import dev.memwall.optim.LrSchedule;
import dev.memwall.rng.Rng;
import org.junit.jupiter.api.Test;

import java.util.Arrays;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * AdaHessian steps under a checkpointing policy, whose Hessian-vector products the trainer takes region by region:
 * the same training as the whole-graph product without checkpointing (two draws, micro-batches accumulated), and a
 * lower activation peak than the whole-graph product under the same policy.
 */
class AdaHessianByRegionsTest {
    private static final GptConfig CONFIG = new GptConfig(16, 6, 16, 2, 3, 0f);

    /** A trainer on the region-by-region route (createGraph without a policy), which is not the default. */
    private static Trainer trainer(AdaHessian.Config cfg, Policy policy) {
        Gpt model = new Gpt(CONFIG, new Rng(7));
        if (policy != null) Checkpointing.install(model, policy);
        FlatParameters flat = model.flatten();
        return new Trainer(model, flat, new AdaHessian(flat, cfg), LrSchedule.constant(cfg.lr()), 0).hessianPath(HessianPath.REGIONS);
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

    private static Batch rows(Batch b, int from, int to) {
        int t = b.context();
        return new Batch(Arrays.copyOfRange(b.ids(), from * t, to * t), Arrays.copyOfRange(b.targets(), from * t, to * t), to - from, t);
    }

    /**
     * Micro-batches accumulate the product of the accumulated loss (each scaled like its gradient, the same z), and two
     * draws average: after a step, the Hessian estimate D and the first moment (the gradient) equal those of the
     * whole-graph path on the whole batch, each within 1e-5 of its norm (rounding: the products are summed region by
     * region). A missing Hessian term, a draw counted twice or a gradient added per draw is off by O(1).
     */
    @Test
    void regionsOverMicroBatchesGiveTheWholeGraphEstimate() {
        AdaHessian.Config cfg = AdaHessian.Config.defaults().withLr(0.05).withHessian(1, 4, 2, 1);
        Trainer whole = trainer(cfg, null), regions = trainer(cfg, Policy.everyLayer(CONFIG.layers())),
                budget = trainer(cfg, Policy.checkpointBlocks("BUDGET-like", new boolean[]{true, false, true}));
        Batch b = batch(4, 8);
        StepStats w = whole.step(b);
        StepStats r = regions.step(rows(b, 0, 2), rows(b, 2, 4));
        StepStats u = budget.step(b);
        for (StepStats s : new StepStats[]{r, u}) {
            assertThat(s.loss()).isCloseTo(w.loss(), org.assertj.core.data.Offset.offset(1e-5));
            assertThat(s.gradNorm()).isCloseTo(w.gradNorm(), org.assertj.core.data.Offset.offset(1e-5 * w.gradNorm()));
        }
        for (String state : new String[]{"hessian", "exp_avg"}) {
            float[] ref = whole.optimizer().stateTensors().get(state).toFloatArray();
            for (Trainer t : new Trainer[]{regions, budget}) {
                float[] got = t.optimizer().stateTensors().get(state).toFloatArray();
                double diff = 0, norm = 0;
                for (int i = 0; i < ref.length; i++) {
                    diff += (got[i] - (double) ref[i]) * (got[i] - ref[i]);
                    norm += (double) ref[i] * ref[i];
                }
                assertThat(norm).as(state).isGreaterThan(1e-6);
                assertThat(Math.sqrt(diff / norm)).as(state).isLessThan(1e-5);
            }
        }
    }

    /** The step's ACTIVATION peak under EVERY_LAYER: by regions, below half the whole-graph product's. */
    @Test
    void everyLayerStepPeaksBelowTheWholeGraphProduct() {
        AdaHessian.Config cfg = AdaHessian.Config.defaults();
        Batch b = batch(4, 9);
        long byRegions = activationPeak(trainer(cfg, Policy.everyLayer(CONFIG.layers())), b);
        Trainer wholeGraph = trainer(cfg, null);
        Checkpointing.install(wholeGraph.model(), Policy.everyLayer(CONFIG.layers())); // the runner only: no regions
        wholeGraph.model().blockRunner(wholeGraph.model().blockRunner()::run);
        long whole = activationPeak(wholeGraph, b);
        assertThat(byRegions).isPositive().isLessThan(whole / 2);
    }

    private static long activationPeak(Trainer t, Batch b) {
        MemoryTracker tracker = new MemoryTracker();
        try (var installed = MemoryTracker.install(tracker)) {
            Trainer inside = new Trainer(t.model(), t.params(), t.optimizer(), LrSchedule.constant(0.1), 0).hessianPath(t.hessianPath());
            return inside.step(b).peakBytes().get(Category.ACTIVATION);
        }
    }
}
