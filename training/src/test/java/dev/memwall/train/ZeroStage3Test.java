package dev.memwall.train;

import dev.memwall.autograd.Scope;
import dev.memwall.checkpoint.Checkpointing;
import dev.memwall.checkpoint.Policy;
import dev.memwall.data.Batch;
import dev.memwall.memory.Category;
import dev.memwall.memory.MemoryEvent;
import dev.memwall.memory.Phase;
import dev.memwall.memory.MemoryTracker;
import dev.memwall.nn.Gpt;
import dev.memwall.nn.GptConfig;
import dev.memwall.optim.AdamW;
import dev.memwall.optim.LrSchedule;
import dev.memwall.rng.Rng;
import dev.memwall.sharding.ProcessGroup;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.List;

import static dev.memwall.train.DataParallelTest.ADAM;
import static dev.memwall.train.DataParallelTest.CONFIG;
import static dev.memwall.train.DataParallelTest.batches;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * ZeRO stage 3 beyond "trains as one process" ({@link DataParallelTest} covers that, and the bytes and model-state
 * formulas, for every stage): each unit is gathered once in forward and once in backward — also under checkpointing,
 * whose recomputation reads the unit gathered for the backward — and reduced once, from inside backward; at most two
 * unit buffers are alive; between steps a rank holds only its shards.
 */
@Timeout(600)
class ZeroStage3Test {
    /** Six blocks: four units are well below the whole model, so a bound of four units says something. */
    static final GptConfig DEEP = new GptConfig(32, 8, 32, 2, 6, 0f);

    record Seen(int units, int largest, int[] gathersInBackward, int[] reductionsInBackward, long[] peakUnits,
                long[] peakCommunication, double[] hidden, long communicationAfter, long parametersAfter, int shardLength) {
    }

    static Seen trainSeeing(ProcessGroup g, GptConfig config, Policy policy, int steps) {
        Gpt model = new Gpt(config, new Rng(7));
        DataParallel dp = DataParallel.of(model, g, ZeroStage.STAGE_3);
        if (policy != null) Checkpointing.install(model, policy);
        Trainer t = new Trainer(model, dp, new AdamW(dp.params(), dp.shard(), ADAM), LrSchedule.constant(ADAM.lr()), 1.0);
        ParameterShards u = dp.units();
        int[] gathers = new int[steps], reductions = new int[steps];
        long[] unitBuffers = new long[steps], comm = new long[steps];
        double[] hidden = new double[steps];
        Rng r = new Rng(3);
        StepStats st = null;
        // what other objects of this JVM hold (a finished test's transport scratch) is not this run's
        long base = MemoryTracker.current().current(Category.COMMUNICATION);
        for (int s = 0; s < steps; s++) {
            st = t.step(batch(config, r));
            gathers[s] = u.figures().gathersInBackward();
            reductions[s] = u.figures().reductionsInBackward();
            unitBuffers[s] = u.figures().peakBytes();
            comm[s] = st.peakBytes().getOrDefault(Category.COMMUNICATION, 0L) - base;
            hidden[s] = st.commHiddenFraction();
        }
        return new Seen(u.unitCount(), u.largestUnit(), gathers, reductions, unitBuffers, comm, hidden,
                st.currentBytes().getOrDefault(Category.COMMUNICATION, 0L) - base, st.currentBytes().getOrDefault(Category.PARAMETER, 0L),
                dp.params().length());
    }

    static Batch batch(GptConfig c, Rng r) {
        int n = 4 * c.context();
        int[] ids = new int[n], targets = new int[n];
        for (int i = 0; i < n; i++) {
            ids[i] = r.nextInt(c.vocab());
            targets[i] = r.nextInt(c.vocab());
        }
        return new Batch(ids, targets, 4, c.context());
    }

    /**
     * Every unit's gather for backward is issued from inside backward exactly once per step, and every unit's
     * gradients are reduced from inside backward exactly once, under no checkpointing, EVERY_LAYER and SELECTIVE: a
     * recomputation gathers nothing more and reports no gradient a second time (which would throw).
     */
    @Test
    void eachUnitIsGatheredAndReducedOnceInBackwardUnderEveryPolicy() {
        for (Policy policy : new Policy[] {null, Policy.everyLayer(CONFIG.layers()), Policy.selective(CONFIG.layers())}) {
            String what = policy == null ? "no checkpointing" : policy.describe();
            for (Seen seen : Ranks.run(2, g -> trainSeeing(g, CONFIG, policy, 3))) {
                assertThat(seen.units).isEqualTo(CONFIG.layers() + 2);
                for (int s = 0; s < 3; s++) {
                    assertThat(seen.gathersInBackward[s]).as("%s step %d: gathers issued in backward", what, s).isEqualTo(seen.units);
                    assertThat(seen.reductionsInBackward[s]).as("%s step %d: reductions issued in backward", what, s).isEqualTo(seen.units);
                    assertThat(seen.hidden[s]).as(what).isBetween(0.0, 1.0);
                }
            }
        }
    }

    /**
     * Per rank: at most two unit buffers alive (the one computing and either the one below, prefetched, or the one
     * above, its gradients being reduced: gradients are written over the gathered parameters, so no separate gradient
     * buffer exists), and at least two at once (the prefetch happens). At N = 1 the tracker is this rank's alone: its
     * COMMUNICATION peak within a step is at most 2 · the largest unit's bytes under every policy — far below the 4Ψ
     * a replicated model holds — and nothing is left of it after the step; PARAMETER is the shard.
     */
    @Test
    void communicationHoldsAtMostTwoUnits() {
        long psi = new Gpt(DEEP, new Rng(7)).parameterCount();
        for (int n : new int[] {1, 2}) {
            for (Seen seen : Ranks.run(n, g -> trainSeeing(g, DEEP, null, 2))) {
                for (int s = 0; s < 2; s++) {
                    assertThat(seen.peakUnits[s]).as("N=%d unit-buffer bytes", n).isLessThanOrEqualTo(2L * 4 * seen.largest)
                            .isGreaterThan(4L * seen.largest);
                }
            }
        }
        MemoryTracker tracker = MemoryTracker.current();
        for (Policy policy : new Policy[] {null, Policy.everyLayer(DEEP.layers()), Policy.selective(DEEP.layers())}) {
            String what = policy == null ? "no checkpointing" : policy.describe();
            long paramsBefore = tracker.current(Category.PARAMETER);
            Seen one = trainSeeing(ProcessGroup.single(), DEEP, policy, 2);
            for (long peak : one.peakCommunication) {
                assertThat(peak).as("%s: COMMUNICATION peak bytes", what).isLessThanOrEqualTo(2L * 4 * one.largest).isLessThan(4L * psi / 2);
            }
            assertThat(one.communicationAfter).as("%s: nothing gathered between steps", what).isZero();
            assertThat(tracker.current(Category.PARAMETER) - paramsBefore).as("PARAMETER: the shard only").isEqualTo(4L * one.shardLength);
        }
    }

    /**
     * Ranks in threads share one tracker, so their COMMUNICATION adds up: per phase (forward, backward, recomputation),
     * read from the recorded timeline (which peak resets do not touch), at most N · 2 · the largest unit's bytes, at
     * N = 2 and 4, under every policy; and each recomputing policy does recompute.
     */
    @Test
    void ranksTogetherHoldAtMostTwoUnitsEachInEveryPhase() {
        for (int n : new int[] {2, 4}) {
            for (Policy policy : new Policy[] {null, Policy.everyLayer(DEEP.layers()), Policy.selective(DEEP.layers())}) {
                String what = "N=" + n + ", " + (policy == null ? "no checkpointing" : policy.describe());
                MemoryTracker tracker = new MemoryTracker();
                tracker.record(true);
                List<Seen> seen;
                try (var installed = MemoryTracker.install(tracker)) {
                    seen = Ranks.run(n, g -> trainSeeing(g, DEEP, policy, 2));
                }
                long bound = (long) n * 2 * 4 * seen.get(0).largest;
                java.util.Map<Phase, Long> peak = new java.util.EnumMap<>(Phase.class);
                for (MemoryEvent e : tracker.events()) peak.merge(e.phase(), e.current()[Category.COMMUNICATION.ordinal()], Math::max);
                for (Phase phase : new Phase[] {Phase.FORWARD, Phase.BACKWARD, Phase.RECOMPUTE}) {
                    assertThat(peak.getOrDefault(phase, 0L)).as("%s: COMMUNICATION bytes of all ranks in %s", what, phase)
                            .isLessThanOrEqualTo(bound);
                }
                assertThat(peak.get(Phase.BACKWARD)).as(what).isGreaterThan(bound / 2);
                if (policy != null) assertThat(peak).as(what).containsKey(Phase.RECOMPUTE);
            }
        }
    }

    /** Between steps the model holds released stand-ins: a use of a parameter outside its unit's window fails naming it. */
    @Test
    void aParameterIsUnavailableBetweenItsUnitsUses() {
        Gpt model = new Gpt(CONFIG, new Rng(7));
        DataParallel.of(model, ProcessGroup.single(), ZeroStage.STAGE_3);
        assertThatThrownBy(() -> model.blocks().get(0).namedParameters().get("qkv.weight").data())
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("qkv.weight").hasMessageContaining("released");
        // the units' own forward gathers them
        try (Scope s = Scope.open(); var off = dev.memwall.autograd.GradMode.noGrad()) {
            Batch b = batches(5, 1).get(0);
            assertThat(model.loss(b.idsTensor(), b.targetsTensor()).item()).isFinite();
        }
        assertThatThrownBy(() -> model.namedParameters().get("head.weight").data()).isInstanceOf(IllegalStateException.class);
    }

    /** Unit bookkeeping: units are contiguous in parameter order, and only a Gpt is sharded by unit. */
    @Test
    void onlyAGptIsShardedByUnit() {
        assertThatThrownBy(() -> DataParallel.of(new dev.memwall.nn.LayerNorm(4), ProcessGroup.single(), ZeroStage.STAGE_3))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("Gpt");
        Gpt model = new Gpt(CONFIG, new Rng(7));
        assertThat(model.unitOf("tok.weight")).isZero();
        assertThat(model.unitOf("blocks.1.fc.bias")).isEqualTo(2);
        assertThat(model.unitOf("head.weight")).isEqualTo(CONFIG.layers() + 1);
        List<String> names = List.copyOf(model.namedParameters().keySet());
        for (int i = 1; i < names.size(); i++) assertThat(model.unitOf(names.get(i))).isGreaterThanOrEqualTo(model.unitOf(names.get(i - 1)));
    }
}
