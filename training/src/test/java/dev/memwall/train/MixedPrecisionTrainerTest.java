package dev.memwall.train;

import dev.memwall.data.Batch;
import dev.memwall.memory.Category;
import dev.memwall.memory.MemoryTracker;
import dev.memwall.nn.FlatParameters;
import dev.memwall.nn.Gpt;
import dev.memwall.nn.GptConfig;
import dev.memwall.optim.AdamW;
import dev.memwall.optim.LrSchedule;
import dev.memwall.precision.GradScaler;
import dev.memwall.precision.MixedPrecision;
import dev.memwall.precision.Precision;
import dev.memwall.rng.Rng;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** The trainer under autocast and loss scaling: it learns as FP32 does, and an overflowing step changes nothing. */
class MixedPrecisionTrainerTest {
    private static final GptConfig CONFIG = new GptConfig(32, 8, 32, 2, 1, 0f);

    private static Trainer trainer(MixedPrecision mp) {
        Gpt model = new Gpt(CONFIG, new Rng(1));
        FlatParameters flat = model.flatten();
        AdamW opt = new AdamW(flat, new AdamW.Config(3e-3, 0.9, 0.95, 1e-8, 0.0));
        return new Trainer(model, flat, opt, LrSchedule.constant(3e-3), 1.0).mixedPrecision(mp);
    }

    private static Batch batch() {
        Rng r = new Rng(9);
        int[] ids = new int[4 * 8], next = new int[4 * 8];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = r.nextInt(32);
            next[i] = r.nextInt(32);
        }
        return new Batch(ids, next, 4, 8);
    }

    @Test
    void bf16AndFp16TrainLikeFp32() {
        Batch b = batch();
        double[] last = new double[3];
        MixedPrecision[] settings = {null, MixedPrecision.of(Precision.BF16), MixedPrecision.of(Precision.FP16)};
        for (int k = 0; k < 3; k++) {
            Trainer t = trainer(settings[k]);
            for (int i = 0; i < 60; i++) last[k] = t.step(b, b).loss(); // two micro-batches: one region per step
        }
        assertThat(last[0]).isLessThan(1.5);
        assertThat(last[1]).isCloseTo(last[0], org.assertj.core.data.Offset.offset(0.1 * last[0]));
        assertThat(last[2]).isCloseTo(last[0], org.assertj.core.data.Offset.offset(0.05 * last[0]));
        assertThat(settings[2].scaler().skippedSteps()).isZero();
    }

    /**
     * An FP8 precision runs each step's Linear layers through the recipe (delayed scaling records an amax history per
     * layer and role on the run's state), closes its hook after the step, and still trains.
     */
    @Test
    void fp8StepsGoThroughTheRecipeAndTrain() {
        Batch b = batch();
        MixedPrecision fp8 = MixedPrecision.of(Precision.FP8);
        assertThat(fp8.scaler().isEnabled()).as("FP8 defaults to no loss scaling").isFalse();
        Trainer t = trainer(fp8), plain = trainer(null);
        double first = t.step(b).loss(), firstPlain = plain.step(b).loss();
        assertThat(fp8.fp8().toArrays()).as("amax histories of the Linear layers").isNotEmpty();
        assertThat(dev.memwall.ops.LinearAutocast.current()).as("hook closed after the step").isNull();
        assertThat(first).isCloseTo(firstPlain, org.assertj.core.data.Offset.offset(0.05 * firstPlain));
        double last = first;
        for (int i = 0; i < 40; i++) last = t.step(b).loss();
        assertThat(last).isLessThan(0.7 * first);
    }

    /**
     * A scale of 2^40 makes the FP16 backward overflow (FP16's largest value is 65504): each such step must leave the
     * parameters and the optimizer untouched, halve the scale and count one skip, until the scale is small enough.
     */
    @Test
    void overflowingStepsAreSkippedAndHalveTheScale() {
        GradScaler scaler = GradScaler.dynamic(0x1p40f, 2.0, 0.5, 2000);
        Trainer t = trainer(new MixedPrecision(Precision.FP16, scaler));
        Batch b = batch();
        int skipped = 0, taken = 0;
        for (int i = 0; i < 40 && taken < 3; i++) {
            float[] before = t.params().values().whole().toFloatArray();
            float scale = scaler.scale();
            long skippedBefore = scaler.skippedSteps();
            StepStats s = t.step(b);
            float[] after = t.params().values().whole().toFloatArray();
            if (scaler.skippedSteps() > skippedBefore) {
                skipped++;
                assertThat(after).as("a skipped step changes no parameter").isEqualTo(before);
                assertThat(scaler.scale()).isEqualTo(scale / 2);
                assertThat(Double.isNaN(s.gradNorm())).isTrue();
                assertThat(t.params().grads().whole().toFloatArray()).as("and leaves no gradient behind").containsOnly(0f);
            } else {
                taken++;
                assertThat(after).isNotEqualTo(before);
                assertThat(scaler.scale()).isEqualTo(scale);
            }
        }
        assertThat(skipped).isGreaterThan(10);
        assertThat(taken).isEqualTo(3);
        assertThat(scaler.scale()).isLessThanOrEqualTo(0x1p30f);
    }

    /**
     * Activation checkpointing under autocast: the recomputation in backward runs inside the same region (same cached
     * weight copies, same casts of the same FP32 values), so every policy trains bit-identically to keeping everything.
     */
    @Test
    void everyCheckpointingPolicyTrainsBitIdenticallyUnderBf16() {
        Batch b = batch();
        GptConfig two = new GptConfig(32, 8, 32, 2, 2, 0f);
        float[] reference = null;
        for (var policy : new dev.memwall.checkpoint.Policy[]{dev.memwall.checkpoint.Policy.none(2),
                dev.memwall.checkpoint.Policy.everyLayer(2), dev.memwall.checkpoint.Policy.selective(2)}) {
            Gpt model = new Gpt(two, new Rng(1));
            FlatParameters flat = model.flatten();
            dev.memwall.checkpoint.Checkpointing.install(model, policy);
            AdamW opt = new AdamW(flat, new AdamW.Config(3e-3, 0.9, 0.95, 1e-8, 0.0));
            Trainer t = new Trainer(model, flat, opt, LrSchedule.constant(3e-3), 1.0).mixedPrecision(MixedPrecision.of(Precision.BF16));
            for (int i = 0; i < 3; i++) t.step(b);
            float[] params = flat.values().whole().toFloatArray();
            if (reference == null) reference = params;
            else assertThat(params).as(policy.name()).isEqualTo(reference);
        }
    }

    /** The step's BF16 weight copies are PARAMETER bytes while the step runs and gone after it: Ψ·2 at the peak. */
    @Test
    void weightCopiesCostTwoBytesPerWeightDuringTheStepOnly() {
        MemoryTracker tracker = new MemoryTracker();
        try (var installed = MemoryTracker.install(tracker)) {
            Trainer t = trainer(MixedPrecision.of(Precision.BF16));
            long params = tracker.current(Category.PARAMETER);
            StepStats s = t.step(batch());
            long gemmWeights = 0; // every weight a GEMM reads: the Linear weights and the LM head, not the embeddings
            for (var e : t.model().namedParameters().entrySet()) {
                if (e.getValue().dim() == 2 && !e.getKey().startsWith("pos") && !e.getKey().startsWith("tok")) gemmWeights += e.getValue().numel();
            }
            assertThat(s.peakBytes().get(Category.PARAMETER)).isEqualTo(params + 2 * gemmWeights);
            assertThat(tracker.current(Category.PARAMETER)).isEqualTo(params);
        }
    }
}
