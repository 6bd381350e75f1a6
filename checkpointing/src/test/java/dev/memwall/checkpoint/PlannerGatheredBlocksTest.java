package dev.memwall.checkpoint;

import dev.memwall.rng.Rng;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Blocks gathered around their use (ZeRO stage 3): a recomputed segment of several blocks holds all of them gathered
 * while it recomputes, one block's worth more per extra block than the profile's {@code other} (measured with
 * one-block segments) covers. The planner counts it, in its prediction and in its search alike.
 */
class PlannerGatheredBlocksTest {
    @Test
    void aRecomputedSegmentOfSeveralBlocksHoldsAllOfThemGathered() {
        int layers = 2;
        // large block inputs and head: unsharded, one segment over both blocks (one kept input) needs the least memory
        long[] saved = {100, 100}, input = {80, 80}, sel = {90, 90}, extra = {20, 20};
        double[] time = {1, 1}, selTime = {5, 5};
        Planner.Profile plain = new Planner.Profile(saved, input, time, sel, extra, selTime, 5, 150, 1000, 50);
        Planner.Profile gathered = plain.withGathered(new long[] {300, 300});
        Policy whole = new Policy("whole", List.of(new int[] {0, 2, Policy.RECOMPUTE}));
        Policy each = Policy.everyLayer(layers);
        // the whole chain recomputed at once: 200 bytes of activations on top of the base, plus the second block
        assertThat(Planner.predictPeak(plain, whole)).isEqualTo(5 + 80 + 150);
        assertThat(Planner.predictPeak(gathered, whole)).isEqualTo(5 + 200 + 300);
        // one block at a time: nothing beyond the one block other covers
        assertThat(Planner.predictPeak(gathered, each)).isEqualTo(Planner.predictPeak(plain, each)).isEqualTo(5 + 160 + 150);
        assertThat(Planner.plan(plain, Planner.minimumFeasible(plain)).policy().segments().get(0)).containsExactly(0, 2, Policy.RECOMPUTE);
        // and the smallest budget is met by short segments, not by the one long segment that would be best unsharded
        assertThat(Planner.minimumFeasible(gathered)).isGreaterThan(Planner.minimumFeasible(plain));
        Planner.Plan plan = Planner.plan(gathered, Planner.minimumFeasible(gathered));
        for (int[] s : plan.policy().segments()) {
            if (s[2] == Policy.RECOMPUTE) assertThat(s[1] - s[0]).as(plan.policy().describe()).isEqualTo(1);
        }
        assertThat(Planner.predictTotal(gathered, plan.policy())).isLessThanOrEqualTo(plan.budget());
    }

    @Test
    void thePlanIsTheCheapestFeasibleAmongAllPoliciesWithGatheredBlocks() {
        Rng r = new Rng(9);
        for (int trial = 0; trial < 30; trial++) {
            int layers = 1 + r.nextInt(5);
            long[] saved = new long[layers], input = new long[layers], sel = new long[layers], extra = new long[layers];
            long[] gathered = new long[layers];
            double[] time = new double[layers], selTime = new double[layers];
            for (int i = 0; i < layers; i++) {
                input[i] = 10 + r.nextInt(20);
                saved[i] = input[i] + 50 + r.nextInt(200);
                sel[i] = input[i] + r.nextInt((int) (saved[i] - input[i]));
                extra[i] = r.nextInt(60);
                time[i] = 1 + r.nextInt(9);
                selTime[i] = r.nextInt((int) time[i] + 1);
                gathered[i] = r.nextInt(150);
            }
            Planner.Profile p = new Planner.Profile(saved, input, time, sel, extra, selTime, r.nextInt(30), r.nextInt(100),
                    r.nextInt(500), 50, gathered);
            long none = Planner.predictTotal(p, Policy.none(layers)), min = Planner.minimumFeasible(p);
            long budget = min + r.nextInt((int) Math.max(1, none - min + 1));
            Planner.Plan plan = Planner.plan(p, budget);
            assertThat(plan.predictedTotal()).isLessThanOrEqualTo(budget).isEqualTo(Planner.predictTotal(p, plan.policy()));
            double best = Double.MAX_VALUE;
            long minPeak = Long.MAX_VALUE;
            for (Policy q : PlannerTest.all(layers)) {
                long peak = Planner.predictTotal(p, q);
                minPeak = Math.min(minPeak, peak);
                if (peak <= budget) best = Math.min(best, Planner.recomputeTime(p, q));
            }
            assertThat(plan.recomputeTime()).isCloseTo(best, org.assertj.core.data.Offset.offset(1e-9));
            assertThat(min).isEqualTo(minPeak);
        }
    }
}
