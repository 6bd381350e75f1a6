package dev.memwall.train;

import dev.memwall.autograd.Scope;
import dev.memwall.autograd.Tensor;
import dev.memwall.checkpoint.Checkpointing;
import dev.memwall.checkpoint.Policy;
import dev.memwall.data.Batch;
import dev.memwall.nn.FlatParameters;
import dev.memwall.nn.Gpt;
import dev.memwall.nn.GptConfig;
import dev.memwall.optim.AdaHessian;
import dev.memwall.optim.Hutchinson;
import dev.memwall.optim.LrSchedule;
import dev.memwall.rng.Rng;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/** AdaHessian inside the training step: micro-batches, checkpointing, save and resume. */
class AdaHessianTrainingTest {
    private static final GptConfig CONFIG = new GptConfig(16, 6, 16, 2, 2, 0f);

    private static Trainer trainer(AdaHessian.Config cfg, long seed) {
        Gpt model = new Gpt(CONFIG, new Rng(seed));
        FlatParameters flat = model.flatten();
        return new Trainer(model, flat, new AdaHessian(flat, cfg), LrSchedule.constant(cfg.lr()), 0);
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
        return new Batch(java.util.Arrays.copyOfRange(b.ids(), from * t, to * t), java.util.Arrays.copyOfRange(b.targets(), from * t, to * t), to - from, t);
    }

    /**
     * davda54/ada-hessian #3: with gradient accumulation the estimate must be z ⊙ H z of the accumulated loss. H is
     * linear in the loss, so summing each micro-batch's signed z ⊙ H_i z with the same z (scaled like its gradient)
     * gives it; taking |·| per micro-batch or drawing z per micro-batch would not. The first step's update divides
     * by D directly (bias correction undoes β2), so the parameters after it show any difference in D.
     */
    @Test
    void accumulationOverMicroBatchesGivesTheProductOfTheAccumulatedLoss() {
        AdaHessian.Config cfg = AdaHessian.Config.defaults().withLr(0.05).withHessian(1, 4, 1, 1);
        // the createGraph route, whose accumulated products this pins; the default route's are held to the createGraph
        // estimate over micro-batches in AdaHessianForwardOverReverseTest
        Trainer whole = trainer(cfg, 3).hessianPath(HessianPath.CREATE_GRAPH), halves = trainer(cfg, 3).hessianPath(HessianPath.CREATE_GRAPH);
        Batch b = batch(4, 8);
        for (int s = 0; s < 2; s++) {
            whole.step(b);
            halves.step(rows(b, 0, 2), rows(b, 2, 4));
        }
        float[] a = whole.params().values().whole().toFloatArray(), c = halves.params().values().whole().toFloatArray();
        float[] init = trainer(cfg, 3).params().values().whole().toFloatArray();
        double maxMoved = 0, maxDiff = 0;
        for (int i = 0; i < a.length; i++) {
            maxMoved = Math.max(maxMoved, Math.abs(a[i] - init[i]));
            maxDiff = Math.max(maxDiff, Math.abs(a[i] - c[i]));
        }
        assertThat(maxMoved).isGreaterThan(0.05);
        assertThat(maxDiff).isLessThan(1e-5);
    }

    /** The same z ⊙ Hz whatever the checkpointing policy: recomputation must keep every second-order term. */
    @Test
    void hessianVectorProductUnderEveryCheckpointingPolicyEqualsTheOneWithout() {
        Batch b = batch(2, 5);
        float[] none = productUnder(Policy.none(CONFIG.layers()), b);
        double norm = 0;
        for (float v : none) norm += v * v;
        norm = Math.sqrt(norm);
        assertThat(norm).isGreaterThan(1e-3);
        for (Policy p : List.of(Policy.everyLayer(CONFIG.layers()), Policy.selective(CONFIG.layers()),
                Policy.everyK(CONFIG.layers(), 2), Policy.sqrt(CONFIG.layers()))) {
            float[] got = productUnder(p, b);
            double diff = 0;
            for (int i = 0; i < got.length; i++) diff += (got[i] - none[i]) * (double) (got[i] - none[i]);
            assertThat(Math.sqrt(diff) / norm).as(p.describe()).isLessThan(1e-5);
        }
    }

    private static float[] productUnder(Policy policy, Batch b) {
        Gpt model = new Gpt(CONFIG, new Rng(21));
        Checkpointing.install(model, policy);
        FlatParameters flat = model.flatten();
        float[] sums = new float[flat.length()];
        try (Scope s = Scope.open()) {
            model.loss(b.idsTensor(), b.targetsTensor()).backward(Tensor.scalar(1f), false, true);
            Hutchinson.accumulate(flat, model.parameters(), Hutchinson.rademacher(1, 0, flat.count(), flat.length()), 1, false, sums);
        }
        return sums;
    }

    @Test
    void resumedRunContinuesBitIdenticallyWithTheStaleEstimate(@TempDir Path dir) throws IOException {
        AdaHessian.Config cfg = AdaHessian.Config.defaults().withLr(0.02).withHessian(1, 2, 1, 2).withSeed(6);
        Trainer straight = trainer(cfg, 4);
        for (int s = 0; s < 6; s++) straight.step(batch(2, 100 + s));

        Trainer first = trainer(cfg, 4);
        for (int s = 0; s < 3; s++) first.step(batch(2, 100 + s)); // steps 1 and 3 estimate D, step 2 reuses it
        TrainingState.save(dir, first, Map.of(), null);
        Trainer resumed = trainer(cfg, 4);
        TrainingState.resume(dir, resumed, Map.of());
        assertThat(((AdaHessian) resumed.optimizer()).needsHessian()).isFalse(); // step 4 reuses step 3's estimate
        for (int s = 3; s < 6; s++) resumed.step(batch(2, 100 + s));

        assertThat(resumed.params().values().whole().toFloatArray()).containsExactly(straight.params().values().whole().toFloatArray());
        for (String name : List.of("exp_avg", "exp_hessian_diag_sq", "hessian")) {
            assertThat(resumed.optimizer().stateTensors().get(name).toFloatArray()).as(name)
                    .containsExactly(straight.optimizer().stateTensors().get(name).toFloatArray());
        }
    }
}
