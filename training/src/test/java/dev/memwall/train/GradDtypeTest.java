package dev.memwall.train;

import dev.memwall.autograd.Scope;
import dev.memwall.autograd.Tensor;
import dev.memwall.data.Batch;
import dev.memwall.format.Bf16;
import dev.memwall.memory.Category;
import dev.memwall.memory.MemoryTracker;
import dev.memwall.nn.FlatParameters;
import dev.memwall.nn.Gpt;
import dev.memwall.nn.GptConfig;
import dev.memwall.optim.AdaHessian;
import dev.memwall.optim.AdamW;
import dev.memwall.optim.LrSchedule;
import dev.memwall.precision.GradDtype;
import dev.memwall.precision.GradScaler;
import dev.memwall.precision.MixedPrecision;
import dev.memwall.precision.Precision;
import dev.memwall.rng.Rng;
import dev.memwall.sharding.ProcessGroup;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.data.Offset.offset;

/**
 * {@code --grad-dtype}: gradients held in BF16/FP16 between backward and the update take exactly 2 bytes per element
 * of GRADIENT, hold exactly the rounded FP32 gradients, train like FP32, and under FP16 an overflow of the stored
 * gradient is caught by dynamic loss scaling.
 */
class GradDtypeTest {
    private static final GptConfig CONFIG = new GptConfig(32, 8, 32, 2, 1, 0f);

    private static Trainer trainer(GradDtype grads, GradScaler scaler) {
        Gpt model = new Gpt(CONFIG, new Rng(1));
        FlatParameters flat = model.flatten();
        AdamW opt = new AdamW(flat, new AdamW.Config(3e-3, 0.9, 0.95, 1e-8, 0.0));
        return new Trainer(model, flat, opt, LrSchedule.constant(3e-3), 1.0)
                .mixedPrecision(new MixedPrecision(Precision.FP32, scaler, grads));
    }

    private static Batch batch(long seed) {
        Rng r = new Rng(seed);
        int[] ids = new int[4 * 8], next = new int[4 * 8];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = r.nextInt(32);
            next[i] = r.nextInt(32);
        }
        return new Batch(ids, next, 4, 8);
    }

    @Test
    void gradientBytesHalveExactly() {
        for (GradDtype g : GradDtype.values()) {
            MemoryTracker tracker = new MemoryTracker();
            try (var installed = MemoryTracker.install(tracker)) {
                Trainer t = trainer(g, GradScaler.disabled());
                long length = t.params().length();
                assertThat(tracker.current(Category.GRADIENT)).as(g + " between steps").isEqualTo(g.bytes() * length);
                StepStats s = t.step(batch(9), batch(10));
                assertThat(s.peakBytes().get(Category.GRADIENT)).as(g + " peak").isEqualTo(g.bytes() * length);
                assertThat(tracker.current(Category.GRADIENT)).isEqualTo(g.bytes() * length);
            }
        }
    }

    /** After one backward the low buffer holds each FP32 gradient rounded to nearest even, bit for bit. */
    @Test
    void heldGradientsAreTheFp32GradientsRounded() {
        Batch b = batch(9);
        Trainer fp32 = trainer(GradDtype.FP32, GradScaler.disabled());
        float[] reference;
        try (Scope s = Scope.open()) {
            fp32.model().loss(b.idsTensor(), b.targetsTensor()).backward();
            reference = fp32.params().grads().whole().toFloatArray();
        }
        Gpt model = new Gpt(CONFIG, new Rng(1));
        FlatParameters flat = model.flatten();
        DataParallel dp = DataParallel.single(flat);
        LowPrecisionGradients low = LowPrecisionGradients.attach(model, dp, new AdamW(flat, new AdamW.Config(3e-3, 0.9, 0.95, 1e-8, 0.0)), GradDtype.BF16);
        assertThat(flat.grads().isReleased()).as("no FP32 gradient buffer between steps").isTrue();
        try (Scope s = Scope.open()) {
            model.loss(b.idsTensor(), b.targetsTensor()).backward();
        }
        short[] held = low.held().shortData();
        for (int i = 0; i < flat.count(); i++) {
            assertThat(held[i]).as("element " + i).isEqualTo(Bf16.fromFloat(reference[i], dev.memwall.format.Overflow.NON_SATURATE));
        }
        low.materialize();
        assertThat(flat.grads().whole().storage().category()).isEqualTo(Category.TEMPORARY);
        low.endStep();
        assertThat(flat.grads().isReleased()).isTrue();
    }

    @Test
    void bf16AndFp16GradientsTrainLikeFp32() {
        double[][] losses = new double[3][];
        for (GradDtype g : GradDtype.values()) {
            Trainer t = trainer(g, g == GradDtype.FP16 ? GradScaler.dynamic(0x1p10f, 2.0, 0.5, 2000) : GradScaler.disabled());
            double[] l = new double[8];
            for (int i = 0; i < l.length; i++) l[i] = t.step(batch(9 + i % 2), batch(11)).loss(); // two micro-batches
            losses[g.ordinal()] = l;
        }
        double[] ref = losses[0];
        assertThat(ref[ref.length - 1]).isLessThan(ref[0]);
        for (int k = 1; k < 3; k++) {
            for (int i = 0; i < ref.length; i++) {
                assertThat(losses[k][i]).as(GradDtype.values()[k] + " step " + i).isCloseTo(ref[i], offset(0.01 * ref[i]));
            }
        }
    }

    /**
     * A scale of 2^40 keeps the scaled gradients finite in FP32 but beyond FP16's 65,504: with FP16 gradients the step
     * is skipped and the scale halved, with FP32 gradients it is taken. So the overflow is the stored format's.
     */
    @Test
    void fp16GradientsOverflowIsSkippedByDynamicScaling() {
        Batch b = batch(9);
        GradScaler s16 = GradScaler.dynamic(0x1p40f, 2.0, 0.5, 2000), s32 = GradScaler.dynamic(0x1p40f, 2.0, 0.5, 2000);
        Trainer t16 = trainer(GradDtype.FP16, s16), t32 = trainer(GradDtype.FP32, s32);
        float[] before = t16.params().values().whole().toFloatArray();
        t16.step(b);
        t32.step(b);
        assertThat(s32.skippedSteps()).as("FP32 gradients hold 2^40-scaled values").isZero();
        assertThat(s16.skippedSteps()).isEqualTo(1);
        assertThat(s16.scale()).isEqualTo(0x1p39f);
        assertThat(t16.params().values().whole().toFloatArray()).as("a skipped step changes no parameter").isEqualTo(before);
        assertThat(t16.optimizer().stepCount()).isZero();
        GradScaler.State st = s16.state();
        s16.restore(new GradScaler.State(0x1p8f, st.growthTracker(), st.hysteresisLeft(), st.skippedSteps()));
        double first = t16.step(b).loss();
        assertThat(s16.skippedSteps()).as("a representable scale trains again").isEqualTo(1);
        assertThat(t16.optimizer().stepCount()).isEqualTo(1);
        assertThat(Double.isFinite(first)).isTrue();
    }

    @Test
    void adaHessianIsRefusedAtEveryStage() {
        Gpt m2 = new Gpt(CONFIG, new Rng(1));
        FlatParameters flat = m2.flatten();
        Trainer ada = new Trainer(m2, flat, new AdaHessian(flat, AdaHessian.Config.defaults()), LrSchedule.constant(0.1), 0);
        assertThatThrownBy(() -> ada.mixedPrecision(new MixedPrecision(Precision.FP32, GradScaler.disabled(), GradDtype.BF16)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("AdaHessian");
        // stage 3 refuses AdaHessian itself when the trainer is made (HessianProducts.requireSupportedStage)
        for (ZeroStage stage : new ZeroStage[] {ZeroStage.STAGE_1, ZeroStage.STAGE_2}) {
            Gpt model = new Gpt(CONFIG, new Rng(1));
            DataParallel dp = DataParallel.of(model, ProcessGroup.single(), stage);
            Trainer t = new Trainer(model, dp, new AdaHessian(dp.params(), dp.shard(), AdaHessian.Config.defaults()), LrSchedule.constant(0.1), 0);
            assertThatThrownBy(() -> t.mixedPrecision(new MixedPrecision(Precision.BF16, GradScaler.disabled(), GradDtype.BF16)))
                    .as(stage.toString()).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("--grad-dtype bf16").hasMessageContaining("AdaHessian");
        }
    }
}
