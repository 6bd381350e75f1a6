package dev.memwall.checkpoint;

import dev.memwall.autograd.CompressedActivations;
import dev.memwall.autograd.CompressedActivations.Format;
import dev.memwall.autograd.Scope;
import dev.memwall.autograd.Tensor;
import dev.memwall.memory.Category;
import dev.memwall.memory.MemoryTracker;
import dev.memwall.nn.FlatParameters;
import dev.memwall.nn.Gpt;
import dev.memwall.nn.GptConfig;
import dev.memwall.rng.Rng;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Compressed saved activations under every checkpointing policy: gradients close to FP32's (the recomputation's own
 * hooks sit inside the compressing ones), the peak the planner predicts from a profile measured under the hooks, and
 * a budget that only compression meets planned with less recomputation.
 */
class CompressedActivationsUnderCheckpointingTest {
    private static final int LAYERS = 4, B = 2;
    private static final GptConfig CONFIG = new GptConfig(40, 16, 32, 4, LAYERS, 0f);

    private static List<Policy> policies() {
        return List.of(Policy.none(LAYERS), Policy.everyLayer(LAYERS), Policy.everyK(LAYERS, 2), Policy.sqrt(LAYERS),
                Policy.selective(LAYERS), new Policy("MIXED", List.of(new int[]{0, 1, Policy.SELECTIVE},
                        new int[]{1, 3, Policy.RECOMPUTE}, new int[]{3, 4, Policy.KEEP})));
    }

    private static int[] ids() {
        int[] ids = new int[B * CONFIG.context()];
        for (int i = 0; i < ids.length; i++) ids[i] = (7 * i + 3) % CONFIG.vocab();
        return ids;
    }

    /** Flat gradients of one step with dropout 0.1 (the recomputation must redraw the same masks) under both settings. */
    private static float[] gradients(Policy policy, Format format) {
        GptConfig c = new GptConfig(40, 16, 32, 4, LAYERS, 0.1f);
        Gpt model = new Gpt(c, new Rng(1));
        FlatParameters flat = model.flatten();
        Checkpointing.install(model, policy);
        Rng.defaultRng().manualSeed(5);
        int[] ids = ids();
        try (Scope s = Scope.open(); var hooks = CompressedActivations.install(format)) {
            model.loss(Tensor.ints(ids, B, c.context()), Tensor.ints(ids, B, c.context())).backward();
        }
        float[] g = flat.grads().whole().toFloatArray();
        flat.values().release();
        flat.grads().release();
        return g;
    }

    private static double relativeError(float[] a, float[] ref) {
        double num = 0, den = 0;
        for (int i = 0; i < a.length; i++) {
            num += (double) (a[i] - ref[i]) * (a[i] - ref[i]);
            den += (double) ref[i] * ref[i];
        }
        return Math.sqrt(num / den);
    }

    /** Tolerances: relative L2 error of all gradients, 1% with BF16 (8 significant bits), 10% with FP8 E4M3 (4 bits). */
    @Test
    void everyPolicyGivesGradientsCloseToFp32() {
        float[] ref = gradients(Policy.none(LAYERS), Format.FP32);
        for (Policy p : policies()) {
            assertThat(gradients(p, Format.FP32)).as(p.name() + " without compression").isEqualTo(ref);
            double bf16 = relativeError(gradients(p, Format.BF16), ref), fp8 = relativeError(gradients(p, Format.FP8), ref);
            assertThat(bf16).as(p.name() + " bf16").isLessThan(0.01).isGreaterThan(0);
            assertThat(fp8).as(p.name() + " fp8").isLessThan(0.1).isGreaterThan(bf16);
        }
    }

    /** Peak ACTIVATION and peak total of one step under {@code policy} with saved activations in {@code format}. */
    private static long[] measured(Gpt model, MemoryTracker tracker, Policy policy, Format format) {
        Checkpointing.install(model, policy);
        tracker.resetPeaks();
        int[] ids = ids();
        try (Scope s = Scope.open(); var hooks = CompressedActivations.install(format)) {
            model.loss(Tensor.ints(ids, B, CONFIG.context()), Tensor.ints(ids, B, CONFIG.context())).backward();
        }
        model.zeroGrad();
        return new long[]{tracker.peak(Category.ACTIVATION), tracker.peakTotal()};
    }

    private static Planner.Profile profile(Gpt model, Format format) {
        int[] ids = ids();
        try (Scope s = Scope.open(); var hooks = CompressedActivations.install(format)) {
            return Profiler.profile(model, Tensor.ints(ids, B, CONFIG.context()), Tensor.ints(ids, B, CONFIG.context()), 0);
        }
    }

    @Test
    void plannerPredictsThePeakOfAProfileMeasuredUnderTheHooks() {
        MemoryTracker tracker = new MemoryTracker();
        try (var installed = MemoryTracker.install(tracker)) {
            Gpt model = new Gpt(CONFIG, new Rng(1));
            for (Format f : List.of(Format.BF16, Format.FP8)) {
                Planner.Profile profile = profile(model, f);
                for (Policy p : policies()) {
                    long[] m = measured(model, tracker, p, f);
                    long predicted = Planner.predictPeak(profile, p, f.ratio());
                    if (p.name().equals("NONE") || p.name().equals("SELECTIVE")) {
                        assertThat(m[0]).as(f + " " + p.name()).isEqualTo(predicted);
                    } else { // a recomputed segment's FP32 burst is bounded from above (layer-norm statistics never shrank)
                        assertThat(m[0]).as(f + " " + p.name()).isLessThanOrEqualTo(predicted).isGreaterThan(predicted * 97 / 100);
                    }
                    assertThat(m[1]).as(f + " " + p.name()).isLessThanOrEqualTo(Planner.predictTotal(profile, p, f.ratio()));
                }
            }
        }
    }

    /**
     * Selective recomputation hands what it keeps itself (its recipes' inputs: each block's input, q/k/v, the attention
     * output, fc's output) to the compressing hooks, and recomputes from the compressed values.
     */
    @Test
    void selectiveRecomputationCompressesWhatItKeeps() {
        MemoryTracker tracker = new MemoryTracker();
        try (var installed = MemoryTracker.install(tracker)) {
            Gpt model = new Gpt(CONFIG, new Rng(1));
            long fp32 = measured(model, tracker, Policy.selective(LAYERS), Format.FP32)[0];
            long bf16 = measured(model, tracker, Policy.selective(LAYERS), Format.BF16)[0];
            long btd = (long) B * CONFIG.context() * CONFIG.dim();
            // per block: q/k/v (3·BTD) and fc's output (4·BTD) halve
            assertThat(fp32 - bf16).isGreaterThanOrEqualTo(LAYERS * 7 * btd * 2);
        }
    }

    @Test
    void aBudgetOnlyCompressionMeetsIsPlannedWithLessRecomputation() {
        MemoryTracker tracker = new MemoryTracker();
        try (var installed = MemoryTracker.install(tracker)) {
            Gpt model = new Gpt(CONFIG, new Rng(1));
            Planner.Profile fp32 = profile(model, Format.FP32), bf16 = profile(model, Format.BF16);
            long budget = Planner.predictTotal(bf16, Policy.none(LAYERS), 0.5); // keeping everything fits in BF16 ...
            assertThat(budget).isLessThan(Planner.predictTotal(fp32, Policy.none(LAYERS))); // ... but not in FP32
            Planner.Plan withoutCompression = Planner.plan(fp32, budget), withCompression = Planner.plan(bf16, budget, 0.5);
            assertThat(withoutCompression.recomputeTime()).isPositive();
            assertThat(withCompression.recomputeTime()).isZero();
            assertThat(withCompression.policy().checkpointsAnything()).isFalse();
            long[] m = measured(model, tracker, withCompression.policy(), Format.BF16);
            assertThat(m[1]).isLessThanOrEqualTo(budget);
            // The smallest feasible budget recomputes every block, in FP32 whatever is kept: compression does not lower it.
            assertThat((double) Planner.minimumFeasible(bf16, 0.5)).isGreaterThan(0.95 * Planner.minimumFeasible(fp32));
        }
    }
}
