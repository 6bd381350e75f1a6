package dev.memwall.train;

import dev.memwall.autograd.Tensor;
import dev.memwall.checkpoint.Checkpointing;
import dev.memwall.checkpoint.Policy;
import dev.memwall.memory.Category;
import dev.memwall.memory.MemoryEvent;
import dev.memwall.memory.MemoryTracker;
import dev.memwall.memory.Phase;
import dev.memwall.nn.Gpt;
import dev.memwall.optim.AdamW;
import dev.memwall.optim.LrSchedule;
import dev.memwall.precision.MixedPrecision;
import dev.memwall.precision.Precision;
import dev.memwall.rng.Rng;
import dev.memwall.sharding.HalfFormat;
import dev.memwall.sharding.ProcessGroup;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.EnumMap;
import java.util.List;
import java.util.Map;

import static dev.memwall.train.DataParallelTest.ADAM;
import static dev.memwall.train.ZeroStage3Test.DEEP;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * Stage 3 in BF16: a unit is gathered in 16 bits, which cannot hold its FP32 gradients, so they get a separate FP32
 * buffer while the unit computes. COMMUNICATION per rank and phase, with B = the largest unit's FP32 bytes and D = the
 * largest FP32 copy of a unit's non-GEMM parameters (both from the model's shapes): forward ≤ B + D (a 16-bit unit,
 * its decoded copy, the next 16-bit unit); backward and recomputation ≤ 2.5·B + D (the computing unit's 16 bits,
 * decoded copy and FP32 gradients beside one reduction's FP32 buffer); with {@code --reduce-dtype bf16} 3·B + D + 6·p
 * (its 16-bit wire, B/2, and the shared-memory 16-bit reduce-scatter's scratch, 6 bytes per element of a round of at
 * most p = B / 4N) — and more than B: the gradients are not written over the 16-bit unit.
 */
@Timeout(600)
class StageThreePrecisionBoundTest {

    /** {B, D} in bytes at world size n: non-GEMM parameters are all but the 2-D ones outside the embedding unit. */
    static long[] unitAndDecodedBytes(int n) {
        Gpt model = new Gpt(DEEP, new Rng(7));
        long[] length = new long[model.unitCount()], decoded = new long[model.unitCount()];
        for (Map.Entry<String, Tensor> e : model.namedParameters().entrySet()) {
            int u = model.unitOf(e.getKey());
            length[u] += e.getValue().numel();
            if (!(e.getValue().shape().length == 2 && u != 0)) decoded[u] += e.getValue().numel();
        }
        long b = 0, d = 0;
        for (int u = 0; u < length.length; u++) {
            b = Math.max(b, 4L * n * ProcessGroup.shardLength(length[u], n));
            d = Math.max(d, 4L * decoded[u]);
        }
        return new long[] {b, d};
    }

    static Void train(ProcessGroup g, Policy policy, HalfFormat reduce) {
        Gpt model = new Gpt(DEEP, new Rng(7));
        DataParallel dp = DataParallel.of(model, g, ZeroStage.STAGE_3);
        if (policy != null) Checkpointing.install(model, policy);
        dp.reduceFormat(reduce);
        Trainer t = new Trainer(model, dp, new AdamW(dp.params(), dp.shard(), ADAM), LrSchedule.constant(ADAM.lr()), 1.0);
        t.mixedPrecision(MixedPrecision.of(Precision.BF16));
        assertThat(dp.units().workingFormat()).isEqualTo(HalfFormat.BF16);
        Rng r = new Rng(3);
        for (int s = 0; s < 2; s++) t.step(ZeroStage3Test.batch(DEEP, r));
        return null;
    }

    /** Per phase, the COMMUNICATION bytes of all ranks (in threads, one tracker) at their highest. */
    static Map<Phase, Long> peaks(int n, Policy policy, HalfFormat reduce) {
        MemoryTracker tracker = new MemoryTracker();
        tracker.record(true);
        try (var installed = MemoryTracker.install(tracker)) {
            if (n == 1) train(ProcessGroup.single(), policy, reduce);
            else Ranks.run(n, g -> train(g, policy, reduce));
        }
        Map<Phase, Long> peak = new EnumMap<>(Phase.class);
        for (MemoryEvent e : tracker.events()) peak.merge(e.phase(), e.current()[Category.COMMUNICATION.ordinal()], Math::max);
        return peak;
    }

    @Test
    void bf16CommunicationStaysWithinItsBoundInEveryPhase() {
        for (int n : new int[] {1, 2}) {
            long[] bd = unitAndDecodedBytes(n);
            long b = bd[0], d = bd[1];
            for (HalfFormat reduce : n == 1 ? new HalfFormat[] {null} : new HalfFormat[] {null, HalfFormat.BF16}) {
                for (Policy policy : new Policy[] {null, Policy.everyLayer(DEEP.layers()), Policy.selective(DEEP.layers())}) {
                    String what = "N=" + n + ", reduce " + (reduce == null ? "fp32" : "bf16") + ", "
                            + (policy == null ? "no checkpointing" : policy.describe());
                    Map<Phase, Long> peak = peaks(n, policy, reduce);
                    // the shared-memory 16-bit reduce-scatter borrows an FP32 sum and a 16-bit copy of a round: 6 bytes per element
                    // of at most p = B / (4N)
                    long backward = reduce == null ? 5 * b / 2 + d : 3 * b + d + 6 * (b / (4L * n));
                    assertThat(peak.getOrDefault(Phase.FORWARD, 0L)).as("%s: forward", what).isLessThanOrEqualTo(n * (b + d));
                    assertThat(peak.getOrDefault(Phase.BACKWARD, 0L)).as("%s: backward", what)
                            .isLessThanOrEqualTo(n * backward).isGreaterThan(n * b);
                    assertThat(peak.getOrDefault(Phase.RECOMPUTE, 0L)).as("%s: recomputation", what).isLessThanOrEqualTo(n * backward);
                    if (policy != null) assertThat(peak).as(what).containsKey(Phase.RECOMPUTE);
                }
            }
        }
    }
}
