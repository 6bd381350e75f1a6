package dev.memwall.train;

import dev.memwall.autograd.Tensor;
import dev.memwall.checkpoint.Checkpointing;
import dev.memwall.checkpoint.Policy;
import dev.memwall.data.Batch;
import dev.memwall.nn.Gpt;
import dev.memwall.nn.GptConfig;
import dev.memwall.optim.AdaHessian;
import dev.memwall.optim.LrSchedule;
import dev.memwall.precision.GradScaler;
import dev.memwall.precision.MixedPrecision;
import dev.memwall.precision.Precision;
import dev.memwall.rng.Rng;
import dev.memwall.sharding.ProcessGroup;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.data.Offset.offset;

/**
 * AdaHessian under FP16 loss scaling: the backward seed is S, so the gradients and the Hessian-vector products both
 * come out S times too large; both are unscaled before the update, an inf or NaN in either skips the step (on every
 * rank), and a skipped Hessian step's products are dropped. Against the same FP16 run without loss scaling (scaling by
 * a power of two is exact away from FP16's overflow and underflow), with the createGraph path, region by region, and
 * (scaled runs) on the fused forward-over-reverse pass under FP16 autocast's rules.
 */
@Timeout(600)
class AdaHessianLossScalingTest {
    private static final GptConfig CONFIG = new GptConfig(16, 6, 16, 2, 2, 0f);
    private static final AdaHessian.Config ADA = new AdaHessian.Config(0.02, 0.9, 0.999, 1e-2, 0, 1, 4, 1, 2, 5);

    private static Trainer trainer(ProcessGroup g, ZeroStage stage, GradScaler scaler, boolean checkpointed) {
        // the createGraph and region routes, the ones ZeRO stage 2 takes; the fused pass is checked on its own below
        return trainer(g, stage, scaler, checkpointed, HessianPath.REGIONS);
    }

    private static Trainer trainer(ProcessGroup g, ZeroStage stage, GradScaler scaler, boolean checkpointed, HessianPath path) {
        Gpt model = new Gpt(CONFIG, new Rng(2));
        DataParallel dp = DataParallel.of(model, g, stage);
        if (checkpointed) Checkpointing.install(model, Policy.everyLayer(CONFIG.layers()));
        return new Trainer(model, dp, new AdaHessian(dp.params(), dp.shard(), ADA), LrSchedule.constant(ADA.lr()), 0)
                .mixedPrecision(new MixedPrecision(Precision.FP16, scaler)).hessianPath(path);
    }

    private static float[] train(Trainer t, List<Batch> data) {
        for (Batch b : data) t.step(b);
        return t.dataParallel().parameterValues();
    }

    static List<Batch> batches(int n) {
        List<Batch> out = new ArrayList<>();
        for (int k = 0; k < n; k++) out.add(AdaHessianStageTwoTest.batch(4, 70 + k));
        return out;
    }

    private static void assertClose(float[] actual, float[] expected, String what) {
        assertClose(actual, expected, what, 1e-5);
    }

    private static void assertClose(float[] actual, float[] expected, String what, double tolerance) {
        assertThat(actual).hasSameSizeAs(expected);
        for (int i = 0; i < expected.length; i++) {
            assertThat((double) actual[i]).as("%s: parameter %d", what, i).isCloseTo(expected[i], offset(tolerance + tolerance * Math.abs(expected[i])));
        }
    }

    /**
     * Constant scales of 2^10 and 2^12 train alike (a power of two scales FP16 values exactly), and as the unscaled
     * run does up to what FP16 underflow changes there: the Hessian estimate is unscaled like the gradient — left
     * scaled, D would be 1024× too large and every step 1024× too small.
     */
    @Test
    void aScaledRunTrainsAsTheUnscaledOne() {
        List<Batch> data = batches(4);
        for (int route = 0; route < 3; route++) {
            boolean checkpointed = route == 1;
            HessianPath path = route == 2 ? HessianPath.FORWARD_OVER_REVERSE : HessianPath.REGIONS;
            String what = route == 2 ? "fused pass" : checkpointed ? "EVERY_LAYER" : "createGraph";
            float[] plain = train(trainer(ProcessGroup.single(), ZeroStage.STAGE_0, GradScaler.disabled(), checkpointed, path), data);
            float[] scaled = train(trainer(ProcessGroup.single(), ZeroStage.STAGE_0, GradScaler.constant(1024f), checkpointed, path), data);
            float[] more = train(trainer(ProcessGroup.single(), ZeroStage.STAGE_0, GradScaler.constant(4096f), checkpointed, path), data);
            assertClose(more, scaled, what + ", 2^12 vs 2^10");
            float[] initial = new Gpt(CONFIG, new Rng(2)).flatten().values().whole().toFloatArray();
            double moved = 0, apart = 0;
            for (int i = 0; i < plain.length; i++) {
                moved = Math.max(moved, Math.abs(plain[i] - initial[i]));
                apart = Math.max(apart, Math.abs(scaled[i] - plain[i]));
            }
            assertThat(apart).as("%s: scaled vs unscaled, against the largest move %s", what, moved).isLessThan(0.01 * moved);
        }
    }

    /**
     * A start scale of 2^20 overflows FP16 in backward: the first steps are skipped (the optimizer does not count them,
     * so the next attempt is again a Hessian step with the same z): the run trains as one started at the scale the first
     * skips settled on does on the batches after them (later overflows, as gradients grow, skip alike). Products kept from a skipped step would be added to the
     * next step's (and their NaN would skip every step after). On two ranks at ZeRO stage 2 as well.
     */
    @Test
    void overflowingStepsAreSkippedAndTheirProductsDropped() {
        List<Batch> data = batches(16);
        GradScaler scaler = GradScaler.dynamic(0x1p20f, 2.0, 0.5, 2000);
        Trainer t = trainer(ProcessGroup.single(), ZeroStage.STAGE_0, scaler, false);
        List<Long> skips = new ArrayList<>();
        for (Batch b : data) {
            t.step(b);
            skips.add(scaler.skippedSteps());
        }
        float[] scaled = t.dataParallel().parameterValues();
        int skipped = (int) scaler.skippedSteps();
        assertThat(skipped).as("overflowing steps").isBetween(1, data.size() - 4);
        int first = 0; // the steps skipped before the first taken one
        while (first < skips.size() && skips.get(first) == first + 1) first++;
        assertThat(first).as("skips %s", skips).isPositive();
        assertThat(t.optimizer().stepCount()).isEqualTo(data.size() - skipped);
        // from the scale the first skips settled on, the same batches after them: the same later skips, the same result
        GradScaler after = GradScaler.dynamic(0x1p20f / (1 << first), 2.0, 0.5, 2000);
        float[] settled = train(trainer(ProcessGroup.single(), ZeroStage.STAGE_0, after, false), data.subList(first, data.size()));
        assertThat(after.skippedSteps()).isEqualTo(skipped - first);
        assertClose(scaled, settled, "after " + skipped + " skipped steps");

        List<float[]> ranks = Ranks.run(2, g -> {
            GradScaler s = GradScaler.dynamic(0x1p20f, 2.0, 0.5, 2000);
            float[] p = train(trainer(g, ZeroStage.STAGE_2, s, false), data);
            float[] out = Arrays.copyOf(p, p.length + 1);
            out[p.length] = s.skippedSteps();
            return out;
        });
        for (float[] r : ranks) {
            assertThat((int) r[r.length - 1]).as("skipped on each rank").isEqualTo(skipped);
            // two ranks sum their half-batches in another order than one process; autocast keeps GELU's input, the
            // layer norms' inputs and the logits as BF16 copies, whose rounding the Hessian products then see: 1e-4
            assertClose(Arrays.copyOf(r, r.length - 1), scaled, "ZeRO stage 2", 1e-4);
        }
    }

    /**
     * Finite gradients, a NaN among rank 0's Hessian products only: both ranks skip (the flag is agreed), neither
     * updates, and the products are dropped.
     */
    @Test
    void anOverflowInTheHessianProductsAloneSkipsTheStepOnEveryRank() {
        List<long[]> ranks = Ranks.run(2, g -> {
            Gpt model = new Gpt(CONFIG, new Rng(7));
            DataParallel dp = DataParallel.of(model, g, ZeroStage.STAGE_1);
            Arrays.fill(dp.params().grads().whole().data(), 1f);
            AdaHessian opt = new AdaHessian(dp.params(), dp.shard(), ADA);
            float[] z = opt.hessianDirections().get(0);
            Tensor hz = Tensor.empty("hz", 4);
            Arrays.fill(hz.data(), g.rank() == 0 ? Float.NaN : 1f);
            opt.addHessianProduct(z, 0, hz);
            GradScaler scaler = GradScaler.dynamic();
            long[] updates = {0};
            MixedPrecisionStep.unscaleAndStep(scaler, dp, opt, () -> updates[0]++);
            hz.release();
            return new long[]{updates[0], scaler.skippedSteps(), opt.hessianSums() == null ? 1 : 0};
        });
        for (long[] r : ranks) {
            assertThat(r[0]).as("no rank updates").isZero();
            assertThat(r[1]).isOne();
            assertThat(r[2]).as("products dropped").isOne();
        }
    }
}
