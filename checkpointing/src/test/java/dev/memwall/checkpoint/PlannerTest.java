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
    private static Planner.Profile uniform(int layers, long saved, long input, double time, long base, long head) {
        long[] s = new long[layers], in = new long[layers];
        double[] t = new double[layers];
        java.util.Arrays.fill(s, saved);
        java.util.Arrays.fill(in, input);
        java.util.Arrays.fill(t, time);
        return new Planner.Profile(s, in, t, base, head);
    }

    /** Every segmentation with every recompute flag: the planner must match the best of them. */
    private static List<Policy> all(int layers) {
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
            for (int flags = 0; flags < 1 << segs.size(); flags++) {
                List<int[]> s = new ArrayList<>();
                for (int k = 0; k < segs.size(); k++) s.add(new int[]{segs.get(k)[0], segs.get(k)[1], flags >> k & 1});
                out.add(new Policy("any", s));
            }
        }
        return out;
    }

    private static double cost(Planner.Profile p, Policy policy) {
        double c = 0;
        for (int[] s : policy.segments()) if (s[2] != 0) for (int i = s[0]; i < s[1]; i++) c += p.time()[i];
        return c;
    }

    @Test
    void planIsTheCheapestFeasiblePolicyAmongAllOfThem() {
        Rng r = new Rng(4);
        for (int trial = 0; trial < 30; trial++) {
            int layers = 1 + r.nextInt(6);
            long[] saved = new long[layers], input = new long[layers];
            double[] time = new double[layers];
            for (int i = 0; i < layers; i++) {
                input[i] = 10 + r.nextInt(20);
                saved[i] = input[i] + 50 + r.nextInt(200);
                time[i] = 1 + r.nextInt(9);
            }
            Planner.Profile p = new Planner.Profile(saved, input, time, r.nextInt(30), r.nextInt(100));
            long none = Planner.predictPeak(p, Policy.none(layers));
            long budget = Planner.minimumFeasible(p) + r.nextInt((int) Math.max(1, none - Planner.minimumFeasible(p) + 1));
            Planner.Plan plan = Planner.plan(p, budget);
            assertThat(plan.predictedPeak()).isLessThanOrEqualTo(budget);
            double best = Double.MAX_VALUE;
            long minPeak = Long.MAX_VALUE;
            for (Policy q : all(layers)) {
                long peak = Planner.predictPeak(p, q);
                minPeak = Math.min(minPeak, peak);
                if (peak <= budget) best = Math.min(best, cost(p, q));
            }
            assertThat(plan.recomputeTime()).isEqualTo(best);
            assertThat(Planner.minimumFeasible(p)).isEqualTo(minPeak);
        }
    }

    @Test
    void infeasibleBudgetNamesTheSmallestFeasibleOne() {
        Planner.Profile p = uniform(6, 100, 10, 1, 5, 40);
        long min = Planner.minimumFeasible(p);
        assertThatThrownBy(() -> Planner.plan(p, min - 1))
                .hasMessageContaining("smallest feasible budget is " + String.format("%,d", min));
        assertThat(Planner.plan(p, min).predictedPeak()).isEqualTo(min);
        // a generous budget recomputes nothing
        assertThat(Planner.plan(p, 10_000).recomputeTime()).isZero();
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
            try (Scope s = Scope.open()) {
                profile = Profiler.profile(model, Tensor.ints(ids, b, c.context()), Tensor.ints(ids, b, c.context()), 1);
            }
            long none = Planner.predictPeak(profile, Policy.none(4));
            long every = Planner.predictPeak(profile, Policy.everyLayer(4));
            assertThat(measured(model, tracker, Policy.none(4), ids, b)).isEqualTo(none);
            assertThat(measured(model, tracker, Policy.everyLayer(4), ids, b)).isEqualTo(every);
            long budget = (none + every) / 2;
            Planner.Plan plan = Planner.plan(profile, budget);
            long peak = measured(model, tracker, plan.policy(), ids, b);
            assertThat(peak).isEqualTo(plan.predictedPeak()).isLessThanOrEqualTo(budget);
        }
    }

    private static long measured(Gpt model, MemoryTracker tracker, Policy policy, int[] ids, int b) {
        Checkpointing.install(model, policy);
        tracker.resetPeaks();
        try (Scope s = Scope.open()) {
            model.loss(Tensor.ints(ids, b, ids.length / b), Tensor.ints(ids, b, ids.length / b)).backward();
        }
        model.zeroGrad();
        return tracker.peak(Category.ACTIVATION);
    }
}
