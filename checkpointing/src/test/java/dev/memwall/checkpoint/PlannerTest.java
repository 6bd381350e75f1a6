package dev.memwall.checkpoint;

import dev.memwall.autograd.Scope;
import dev.memwall.autograd.Tensor;
import dev.memwall.memory.Category;
import dev.memwall.memory.MemoryTracker;
import dev.memwall.nn.Gpt;
import dev.memwall.nn.GptConfig;
import dev.memwall.rng.Rng;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class PlannerTest {
    private static Planner.Profile uniform(int layers, long saved, long input, double time, long base, long head, long other) {
        long[] s = new long[layers], in = new long[layers], sel = new long[layers], extra = new long[layers];
        double[] t = new double[layers], st = new double[layers];
        java.util.Arrays.fill(s, saved);
        java.util.Arrays.fill(in, input);
        java.util.Arrays.fill(t, time);
        java.util.Arrays.fill(sel, saved / 2);
        java.util.Arrays.fill(extra, saved / 4);
        java.util.Arrays.fill(st, time / 4);
        return new Planner.Profile(s, in, t, sel, extra, st, base, head, other, 100);
    }

    /** Every segmentation with every mode per segment (keep, checkpoint, selective): the planner must match the best. */
    static List<Policy> all(int layers) {
        List<Policy> out = new ArrayList<>();
        for (int cuts = 0; cuts < 1 << (layers - 1); cuts++) {
            List<int[]> segs = new ArrayList<>();
            int from = 0;
            for (int i = 1; i <= layers; i++) {
                if (i == layers || (cuts >> (i - 1) & 1) != 0) {
                    segs.add(new int[]{from, i, 0});
                    from = i;
                }
            }
            int combos = (int) Math.pow(3, segs.size());
            for (int flags = 0; flags < combos; flags++) {
                List<int[]> s = new ArrayList<>();
                int f = flags;
                for (int[] seg : segs) {
                    s.add(new int[]{seg[0], seg[1], f % 3});
                    f /= 3;
                }
                out.add(new Policy("any", s));
            }
        }
        return out;
    }


    @Test
    void planIsTheCheapestFeasiblePolicyAmongAllOfThem() {
        Rng r = new Rng(4);
        for (int trial = 0; trial < 30; trial++) {
            int layers = 1 + r.nextInt(6);
            long[] saved = new long[layers], input = new long[layers], sel = new long[layers], extra = new long[layers];
            double[] time = new double[layers], selTime = new double[layers];
            for (int i = 0; i < layers; i++) {
                input[i] = 10 + r.nextInt(20);
                saved[i] = input[i] + 50 + r.nextInt(200);
                sel[i] = input[i] + r.nextInt((int) (saved[i] - input[i]));
                extra[i] = r.nextInt(60);
                time[i] = 1 + r.nextInt(9);
                selTime[i] = r.nextInt((int) time[i] + 1);
            }
            Planner.Profile p = new Planner.Profile(saved, input, time, sel, extra, selTime, r.nextInt(30), r.nextInt(100), r.nextInt(500), 50);
            long none = Planner.predictTotal(p, Policy.none(layers));
            long budget = Planner.minimumFeasible(p) + r.nextInt((int) Math.max(1, none - Planner.minimumFeasible(p) + 1));
            Planner.Plan plan = Planner.plan(p, budget);
            assertThat(plan.predictedTotal()).isLessThanOrEqualTo(budget).isEqualTo(plan.predictedActivation() + p.other());
            double best = Double.MAX_VALUE;
            long minPeak = Long.MAX_VALUE;
            for (Policy q : all(layers)) {
                long peak = Planner.predictTotal(p, q);
                minPeak = Math.min(minPeak, peak);
                if (peak <= budget) best = Math.min(best, Planner.recomputeTime(p, q));
            }
            assertThat(plan.recomputeTime()).isCloseTo(best, org.assertj.core.data.Offset.offset(1e-9));
            assertThat(Planner.recomputeTime(p, plan.policy())).isCloseTo(best, org.assertj.core.data.Offset.offset(1e-9));
            assertThat(Planner.minimumFeasible(p)).isEqualTo(minPeak);
        }
    }

    @Test
    void infeasibleBudgetNamesTheSmallestFeasibleOne() {
        Planner.Profile p = uniform(6, 100, 10, 1, 5, 40, 1000);
        long min = Planner.minimumFeasible(p);
        assertThatThrownBy(() -> Planner.plan(p, min - 1))
                .hasMessageContaining("smallest feasible budget is " + String.format("%,d", min));
        assertThat(Planner.plan(p, min).predictedTotal()).isEqualTo(min);
        // a budget below what parameters and the rest take is infeasible whatever is recomputed
        assertThatThrownBy(() -> Planner.plan(p, 999)).hasMessageContaining("smallest feasible budget");
        assertThat(Planner.plan(p, min).predictedOverhead()).isEqualTo(Planner.plan(p, min).recomputeTime() / 100);
        assertThat(Planner.plan(p, min).describe()).contains("predicted overhead +");
        // a generous budget recomputes nothing
        assertThat(Planner.plan(p, 100_000).recomputeTime()).isZero();
        assertThat(Planner.plan(p, 100_000).policy().checkpointsAnything()).isFalse();
    }

    @Test
    void measuredPeakOfThePlanFitsTheBudgetOnARealModel() {
        GptConfig c = new GptConfig(40, 16, 32, 4, 4, 0f);
        int b = 2;
        int[] ids = new int[b * c.context()];
        for (int i = 0; i < ids.length; i++) ids[i] = (7 * i) % c.vocab();
        MemoryTracker tracker = new MemoryTracker();
        try (var installed = MemoryTracker.install(tracker)) {
            Gpt model = new Gpt(c, new Rng(1));
            Planner.Profile profile;
            long temporaryBefore = tracker.current(Category.TEMPORARY);
            try (Scope s = Scope.open()) {
                profile = Profiler.profile(model, Tensor.ints(ids, b, c.context()), Tensor.ints(ids, b, c.context()), 0);
            }
            assertThat(tracker.current(Category.ACTIVATION)).isZero();
            assertThat(profile.stepTime()).isPositive();
            assertThat(tracker.current(Category.TEMPORARY)).as("profiling leaves nothing behind").isEqualTo(temporaryBefore);
            long paramBytes = 0;
            for (Tensor t : model.parameters()) paramBytes += t.bytes();
            assertThat(tracker.current(Category.GRADIENT)).as("only the parameters' gradients remain").isEqualTo(paramBytes);
            for (Policy p : List.of(Policy.none(4), Policy.everyLayer(4), Policy.sqrt(4), Policy.selective(4))) {
                long[] m = measured(model, tracker, p, ids, b);
                assertThat(m[0]).as(p.name()).isEqualTo(Planner.predictPeak(profile, p));
                assertThat(m[1]).as(p.name()).isLessThanOrEqualTo(Planner.predictTotal(profile, p));
            }
            long none = Planner.predictTotal(profile, Policy.none(4));
            long every = Planner.predictTotal(profile, Policy.everyLayer(4));
            for (long budget : new long[]{(none + every) / 2, (3 * every + none) / 4, Planner.minimumFeasible(profile)}) {
                Planner.Plan plan = Planner.plan(profile, budget);
                long[] m = measured(model, tracker, plan.policy(), ids, b);
                assertThat(m[0]).as(plan.describe()).isEqualTo(plan.predictedActivation());
                assertThat(m[1]).as(plan.describe()).isLessThanOrEqualTo(plan.predictedTotal()).isLessThanOrEqualTo(budget);
            }
        }
    }

    /** Peak activation and peak total bytes of one forward + backward under {@code policy}. */
    private static long[] measured(Gpt model, MemoryTracker tracker, Policy policy, int[] ids, int b) {
        Checkpointing.install(model, policy);
        tracker.resetPeaks();
        try (Scope s = Scope.open()) {
            model.loss(Tensor.ints(ids, b, ids.length / b), Tensor.ints(ids, b, ids.length / b)).backward();
        }
        model.zeroGrad();
        return new long[]{tracker.peak(Category.ACTIVATION), tracker.peakTotal()};
    }
}
