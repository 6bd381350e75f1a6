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
 * AdaHessian's default route, the fused forward-over-reverse pass: over micro-batches and two draws, under no policy,
 * EVERY_LAYER and SELECTIVE, a step leaves the same estimate and first moment as the createGraph path; its activation
 * peak is below the createGraph product's without checkpointing and below the region-by-region product's under
 * EVERY_LAYER; where it does not apply the step takes the older routes.
 */
class AdaHessianForwardOverReverseTest {
    private static final GptConfig CONFIG = new GptConfig(16, 6, 16, 2, 3, 0f);

    private static Trainer trainer(AdaHessian.Config cfg, Policy policy, HessianPath path) {
        Gpt model = new Gpt(CONFIG, new Rng(7));
        if (policy != null) Checkpointing.install(model, policy);
        FlatParameters flat = model.flatten();
        return new Trainer(model, flat, new AdaHessian(flat, cfg), LrSchedule.constant(cfg.lr()), 0).hessianPath(path);
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

    @Test
    void defaultRouteGivesTheCreateGraphEstimateUnderEachPolicy() {
        AdaHessian.Config cfg = AdaHessian.Config.defaults().withLr(0.05).withHessian(1, 4, 2, 1);
        Trainer whole = trainer(cfg, null, HessianPath.CREATE_GRAPH);
        Batch b = batch(4, 8);
        StepStats w = whole.step(b);
        for (Policy policy : new Policy[]{null, Policy.everyLayer(CONFIG.layers()), Policy.selective(CONFIG.layers())}) {
            Trainer fast = trainer(cfg, policy, HessianPath.FORWARD_OVER_REVERSE);
            assertThat(fast.hessianPath()).isEqualTo(new Trainer(fast.model(), fast.params(), fast.optimizer(),
                    LrSchedule.constant(0.1), 0).hessianPath()); // the default
            StepStats s = fast.step(rows(b, 0, 2), rows(b, 2, 4));
            String name = policy == null ? "no policy" : policy.describe();
            assertThat(s.loss()).as(name).isCloseTo(w.loss(), org.assertj.core.data.Offset.offset(1e-5));
            assertThat(s.gradNorm()).as(name).isCloseTo(w.gradNorm(), org.assertj.core.data.Offset.offset(1e-5 * w.gradNorm()));
            for (String state : new String[]{"hessian", "exp_avg"}) {
                float[] ref = whole.optimizer().stateTensors().get(state).toFloatArray();
                float[] got = fast.optimizer().stateTensors().get(state).toFloatArray();
                double diff = 0, norm = 0;
                for (int i = 0; i < ref.length; i++) {
                    diff += (got[i] - (double) ref[i]) * (got[i] - ref[i]);
                    norm += (double) ref[i] * ref[i];
                }
                assertThat(norm).as(state).isGreaterThan(1e-6);
                assertThat(Math.sqrt(diff / norm)).as(name + " " + state).isLessThan(1e-5);
            }
        }
    }

    @Test
    void activationPeaksAreBelowTheOlderRoutes() {
        AdaHessian.Config cfg = AdaHessian.Config.defaults();
        Batch b = batch(4, 9);
        long fastNone = activationPeak(trainer(cfg, null, HessianPath.FORWARD_OVER_REVERSE), b);
        long createGraph = activationPeak(trainer(cfg, null, HessianPath.CREATE_GRAPH), b);
        long fastEvery = activationPeak(trainer(cfg, Policy.everyLayer(CONFIG.layers()), HessianPath.FORWARD_OVER_REVERSE), b);
        long regions = activationPeak(trainer(cfg, Policy.everyLayer(CONFIG.layers()), HessianPath.REGIONS), b);
        assertThat(fastNone).isPositive().isLessThan(createGraph / 2);
        assertThat(fastEvery).isPositive().isLessThan(fastNone).isLessThanOrEqualTo(regions);
    }

    @Test
    void stepsWhereThePassDoesNotApplyTakeTheOlderRoutes() {
        Gpt dropout = new Gpt(new GptConfig(16, 6, 16, 2, 1, 0.1f), new Rng(1));
        DataParallel dp = DataParallel.single(dropout.flatten());
        Policy every = Policy.everyLayer(1);
        assertThat(HessianProducts.route(HessianPath.FORWARD_OVER_REVERSE, dropout, every, dp, null).kind())
                .isEqualTo(HessianProducts.Kind.REGIONS);
        assertThat(HessianProducts.route(HessianPath.FORWARD_OVER_REVERSE, dropout, null, dp, null).kind())
                .isEqualTo(HessianProducts.Kind.CREATE_GRAPH);
        dropout.train(false); // no active dropout in eval mode
        assertThat(HessianProducts.route(HessianPath.FORWARD_OVER_REVERSE, dropout, null, dp, null).kind())
                .isEqualTo(HessianProducts.Kind.FORWARD_OVER_REVERSE);
        assertThat(HessianProducts.route(HessianPath.CREATE_GRAPH, dropout, every, dp, null).kind())
                .isEqualTo(HessianProducts.Kind.CREATE_GRAPH);
    }

    private static long activationPeak(Trainer t, Batch b) {
        MemoryTracker tracker = new MemoryTracker();
        try (var installed = MemoryTracker.install(tracker)) {
            Trainer inside = new Trainer(t.model(), t.params(), t.optimizer(), LrSchedule.constant(0.1), 0).hessianPath(t.hessianPath());
            return inside.step(b).peakBytes().get(Category.ACTIVATION);
        }
    }
}
