package dev.memwall.train;

import dev.memwall.autograd.Scope;
import dev.memwall.autograd.Tensor;
import dev.memwall.data.Batch;
import dev.memwall.format.Bf16;
import dev.memwall.format.Overflow;
import dev.memwall.memory.Category;
import dev.memwall.memory.MemoryTracker;
import dev.memwall.nn.Gpt;
import dev.memwall.nn.GptConfig;
import dev.memwall.optim.AdamW;
import dev.memwall.optim.LrSchedule;
import dev.memwall.precision.GradDtype;
import dev.memwall.precision.GradScaler;
import dev.memwall.precision.MixedPrecision;
import dev.memwall.precision.Precision;
import dev.memwall.rng.Rng;
import dev.memwall.sharding.HalfFormat;
import dev.memwall.sharding.ProcessGroup;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.List;

import static dev.memwall.train.DataParallelTest.ADAM;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@code --grad-dtype bf16|fp16} at ZeRO stages 2 and 3: each rank holds its gradient shard in 2 bytes per element —
 * GRADIENT exactly 2·⌈Ψ/N⌉ (stage 2's padded flat buffer over N) or 2·Σ_u ⌈L_u/N⌉ (stage 3's units) bytes per rank —
 * filled with the FP32-reduced shard rounded once (stage 2: after accumulating the micro-batches in the FP32 buckets),
 * and decoded into FP32 for the update.
 */
@Timeout(600)
class ShardedGradDtypeStagesTest {
    /** Odd dimension and vocabulary: every unit, and Ψ, has an odd number of elements, so N = 2 pads each. */
    static final GptConfig ODD = new GptConfig(13, 8, 5, 1, 2, 0f);

    private static List<Batch> batches(long seed, int steps) {
        Rng r = new Rng(seed);
        List<Batch> out = new java.util.ArrayList<>();
        for (int s = 0; s < steps; s++) {
            int n = 4 * ODD.context();
            int[] ids = new int[n], targets = new int[n];
            for (int i = 0; i < n; i++) {
                ids[i] = r.nextInt(ODD.vocab());
                targets[i] = r.nextInt(ODD.vocab());
            }
            out.add(new Batch(ids, targets, 4, ODD.context()));
        }
        return out;
    }

    /** Elements a rank keeps of the gradient at {@code stage} on N ranks, counted from the model's shapes. */
    static long shardElements(ZeroStage stage, int n) {
        Gpt model = new Gpt(ODD, new Rng(7));
        long[] unit = new long[ODD.layers() + 2];
        long psi = 0;
        for (var e : model.namedParameters().entrySet()) {
            unit[model.unitOf(e.getKey())] += e.getValue().numel();
            psi += e.getValue().numel();
        }
        if (stage == ZeroStage.STAGE_2) return (psi + n - 1) / n; // the flat buffer padded to N·⌈Ψ/N⌉
        long sum = 0;
        for (long l : unit) sum += (l + n - 1) / n; // each unit padded to N·⌈L_u/N⌉
        return sum;
    }

    record Seen(float[] params, double[] norms, long gradientPeak, long gradientNow) {
    }

    private static Seen train(ProcessGroup g, ZeroStage stage, GradDtype grads, int steps) {
        Gpt model = new Gpt(ODD, new Rng(7));
        DataParallel dp = DataParallel.of(model, g, stage);
        Trainer t = new Trainer(model, dp, new AdamW(dp.params(), dp.shard(), ADAM), LrSchedule.constant(ADAM.lr()), 0)
                .mixedPrecision(new MixedPrecision(Precision.FP32, GradScaler.disabled(), grads));
        double[] norms = new double[steps];
        StepStats last = null;
        List<Batch> data = batches(21, steps);
        for (int i = 0; i < steps; i++) {
            last = t.step(data.get(i));
            norms[i] = last.gradNorm();
        }
        return new Seen(dp.parameterValues(), norms, last.peakBytes().get(Category.GRADIENT), MemoryTracker.current().current(Category.GRADIENT));
    }

    /** One rank: stages 0, 2 and 3 hold the same rounded gradients, so with BF16 gradients they train bit for bit alike. */
    @Test
    void onOneRankStagesTwoAndThreeTrainAsStageZeroBitForBit() {
        for (GradDtype grads : List.of(GradDtype.BF16, GradDtype.FP16)) {
            Seen ref = train(ProcessGroup.single(), ZeroStage.STAGE_0, grads, 4);
            for (ZeroStage stage : List.of(ZeroStage.STAGE_2, ZeroStage.STAGE_3)) {
                try (var own = MemoryTracker.install(new MemoryTracker())) {
                    Seen s = train(ProcessGroup.single(), stage, grads, 4);
                    String what = grads + " at " + stage;
                    assertThat(s.params()).as(what).isEqualTo(ref.params());
                    long bytes = 2 * shardElements(stage, 1);
                    assertThat(s.gradientPeak()).as(what + ": GRADIENT peak, 2 bytes per element").isEqualTo(bytes);
                    assertThat(s.gradientNow()).as(what + ": GRADIENT between steps").isEqualTo(bytes);
                    for (int i = 0; i < 4; i++) {
                        assertThat(s.norms()[i]).as(what + " norm " + i).isCloseTo(ref.norms()[i], org.assertj.core.data.Offset.offset(1e-6 * ref.norms()[i]));
                    }
                }
            }
        }
    }

    /**
     * Two ranks: GRADIENT is exactly 2 bytes per element of each rank's padded shard (both ranks count in this JVM's
     * tracker), the ranks end bitwise identical, and training follows one process with the same BF16 gradients.
     */
    @Test
    void twoRanksHoldTwoBytesPerShardElementAndFollowOneProcess() {
        Seen single;
        try (var own = MemoryTracker.install(new MemoryTracker())) {
            single = train(ProcessGroup.single(), ZeroStage.STAGE_0, GradDtype.BF16, 5);
        }
        for (ZeroStage stage : List.of(ZeroStage.STAGE_2, ZeroStage.STAGE_3)) {
            long before = MemoryTracker.current().current(Category.GRADIENT);
            List<Seen> ranks = Ranks.run(2, g -> train(g, stage, GradDtype.BF16, 5));
            long perRank = 2 * shardElements(stage, 2);
            // the last step's peak: by then both ranks have long finished building (an earlier step may overlap the
            // other rank's FP32 buffers made before the gradient format is set)
            for (Seen r : ranks) assertThat(r.gradientPeak() - before).as(stage + ": two ranks' 2-byte shards").isEqualTo(2 * perRank);
            assertThat(ranks.get(1).params()).as(stage.toString()).isEqualTo(ranks.get(0).params());
            for (int i = 0; i < single.norms().length; i++) {
                assertThat(ranks.get(0).norms()[i]).as(stage + " norm " + i)
                        .isCloseTo(single.norms()[i], org.assertj.core.data.Offset.offset(1e-2 * single.norms()[i]));
            }
            float[] p = ranks.get(0).params();
            double diff = 0, norm = 0;
            for (int i = 0; i < p.length; i++) {
                diff += Math.pow(p[i] - single.params()[i], 2);
                norm += Math.pow(single.params()[i], 2);
            }
            assertThat(Math.sqrt(diff / norm)).as(stage + ": parameters against one BF16 process").isLessThan(1e-3);
        }
    }

    /**
     * The held shard is the scaled gradient: a scale of 2^40, finite in FP32, overflows FP16's range, is stored as
     * infinity, and the scaler skips the step and halves the scale, changing no parameter.
     */
    @Test
    void anFp16ShardOverflowIsSkippedByDynamicScaling() {
        for (ZeroStage stage : List.of(ZeroStage.STAGE_2, ZeroStage.STAGE_3)) {
            Gpt model = new Gpt(ODD, new Rng(7));
            DataParallel dp = DataParallel.of(model, ProcessGroup.single(), stage);
            GradScaler scaler = GradScaler.dynamic(0x1p40f, 2.0, 0.5, 2000);
            Trainer t = new Trainer(model, dp, new AdamW(dp.params(), dp.shard(), ADAM), LrSchedule.constant(ADAM.lr()), 1.0)
                    .mixedPrecision(new MixedPrecision(Precision.FP32, scaler, GradDtype.FP16));
            float[] before = dp.parameterValues();
            t.step(batches(3, 1).get(0));
            assertThat(scaler.skippedSteps()).as(stage.toString()).isEqualTo(1);
            assertThat(scaler.scale()).as(stage.toString()).isEqualTo(0x1p39f);
            assertThat(dp.parameterValues()).as(stage + ": a skipped step changes nothing").isEqualTo(before);
            GradScaler.State st = scaler.state();
            scaler.restore(new GradScaler.State(0x1p8f, st.growthTracker(), st.hysteresisLeft(), st.skippedSteps()));
            t.step(batches(3, 1).get(0));
            assertThat(scaler.skippedSteps()).as(stage + ": a representable scale trains").isEqualTo(1);
            assertThat(dp.parameterValues()).as(stage.toString()).isNotEqualTo(before);
        }
    }

    /**
     * What a rank holds after backward is its FP32-reduced shard rounded once: at stage 2 over two micro-batches
     * accumulated in the FP32 buckets (so not the rounded sum of rounded halves), at stage 3 over one.
     */
    @Test
    void theHeldShardIsTheFp32ReducedShardRoundedOnce() {
        Batch b0 = batches(5, 2).get(0), b1 = batches(5, 2).get(1);
        for (ZeroStage stage : List.of(ZeroStage.STAGE_2, ZeroStage.STAGE_3)) for (HalfFormat wire : new HalfFormat[] {null, HalfFormat.BF16}) {
            int micro = stage == ZeroStage.STAGE_2 ? 2 : 1;
            List<float[]> fp32 = Ranks.run(2, g -> {
                Gpt model = new Gpt(ODD, new Rng(7));
                DataParallel dp = DataParallel.of(model, g, stage).reduceFormat(wire);
                backwards(model, dp, micro, b0, b1);
                return (stage == ZeroStage.STAGE_2 ? dp.buckets().shardGradients() : dp.units().shardGradients()).clone();
            });
            List<short[]> held = Ranks.run(2, g -> {
                Gpt model = new Gpt(ODD, new Rng(7));
                DataParallel dp = DataParallel.of(model, g, stage).reduceFormat(wire); // --reduce-dtype: the sum's format
                LowPrecisionGradients low = LowPrecisionGradients.attach(model, dp, new AdamW(dp.params(), dp.shard(), ADAM), GradDtype.BF16);
                backwards(model, dp, micro, b0, b1);
                return low.held().shortData().clone();
            });
            for (int r = 0; r < 2; r++) {
                assertThat(held.get(r)).as(stage + " rank " + r).hasSize(fp32.get(r).length);
                for (int i = 0; i < fp32.get(r).length; i++) {
                    assertThat(held.get(r)[i]).as(stage + " reduced in " + wire + ", rank " + r + " element " + i)
                            .isEqualTo(Bf16.fromFloat(fp32.get(r)[i], Overflow.NON_SATURATE));
                }
            }
        }
    }

    /** Forward and backward on this rank's rows of each micro-batch, as a step runs them (without the update). */
    private static void backwards(Gpt model, DataParallel dp, int micro, Batch... global) {
        dp.startStep();
        for (int i = 0; i < micro; i++) {
            Batch b = dp.localRows(global[i]);
            try (Scope s = Scope.open()) {
                Tensor loss = model.loss(b.idsTensor(), b.targetsTensor());
                dp.beginBackward(i == micro - 1);
                loss.backward(Tensor.scalar(1f / micro), false, false);
                dp.finishBackward();
            }
        }
    }
}
