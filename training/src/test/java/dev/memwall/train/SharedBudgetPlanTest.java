package dev.memwall.train;

import dev.memwall.checkpoint.Planner;
import dev.memwall.checkpoint.Policy;
import dev.memwall.data.Batch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.List;

import static dev.memwall.train.DataParallelTest.CONFIG;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * A BUDGET plan in a job is rank 0's on every rank: ranks measure different times (and at stage 3 two plans would
 * gather units in different orders), so each rank installing its own plan could break the job. And a stage-3 job
 * trains under such a plan, a recomputed segment of two blocks included, as one process does under the same plan.
 */
@Timeout(600)
class SharedBudgetPlanTest {
    /** A budget only recomputing both blocks as one segment fits, given {@link #rankZeroProfile}. */
    static final long BUDGET = 1000 + 240;

    /** Large block inputs and head: one segment over both blocks keeps one input and fits; nothing else does. */
    static Planner.Profile rankZeroProfile() {
        return new Planner.Profile(new long[] {100, 100}, new long[] {80, 80}, new double[] {1, 1}, new long[] {90, 90},
                new long[] {20, 20}, new double[] {5, 5}, 5, 150, 1000, 50);
    }

    /** What another rank might have measured: a smaller head, under which keeping everything fits. */
    static Planner.Profile otherRankProfile() {
        return new Planner.Profile(new long[] {100, 100}, new long[] {80, 80}, new double[] {2, 2}, new long[] {90, 90},
                new long[] {20, 20}, new double[] {5, 5}, 5, 20, 1000, 50);
    }

    @Test
    void everyRankGetsRankZerosPlan() {
        Planner.Plan own0 = Planner.plan(rankZeroProfile(), BUDGET), own1 = Planner.plan(otherRankProfile(), BUDGET);
        assertThat(own0.policy().describe()).isEqualTo("BUDGET(1240): recompute [0, 2)");
        assertThat(own1.policy().describe()).as("the premise: rank 1 alone would plan otherwise").isNotEqualTo(own0.policy().describe());
        List<Planner.Plan> plans = Ranks.run(2, g -> SharedBudgetPlan.plan(g, g.rank() == 0 ? rankZeroProfile() : otherRankProfile(), BUDGET, 1));
        for (int r = 0; r < 2; r++) {
            assertThat(plans.get(r).describe()).as("rank %d", r).isEqualTo(own0.describe());
            assertThat(plans.get(r).policy().segments()).as("rank %d", r).containsExactly(own0.policy().segments().toArray(new int[0][]));
        }
    }

    @Test
    void whenNothingFitsOnRankZeroEveryRankRefusesWithItsFigures() {
        long tooSmall = Planner.minimumFeasible(rankZeroProfile()) - 1;
        String expected = Planner.infeasible(tooSmall, Planner.minimumFeasible(rankZeroProfile()), 1000).getMessage();
        List<String> messages = Ranks.run(2, g -> {
            try {
                SharedBudgetPlan.plan(g, g.rank() == 0 ? rankZeroProfile() : otherRankProfile(), tooSmall, 1);
                return "planned";
            } catch (IllegalArgumentException e) {
                return e.getMessage();
            }
        });
        assertThat(messages).containsExactly(expected, expected);
        assertThatThrownBy(() -> Planner.plan(rankZeroProfile(), tooSmall)).hasMessage(expected);
    }

    /** Stage 3 on 2 ranks under the shared plan (one recomputed segment of both blocks) against one process under it. */
    @Test
    void stageThreeUnderTheSharedPlanMatchesOneProcess() {
        List<Batch> data = DataParallelTest.batches(11, DataParallelTest.STEPS);
        Policy plan = Planner.plan(rankZeroProfile(), BUDGET).policy();
        assertThat(plan.segments()).hasSize(1);
        assertThat(plan.segments().get(0)).containsExactly(0, CONFIG.layers(), Policy.RECOMPUTE);
        DataParallelTest.Run single = DataParallelTest.single(plan, 1.0, data);
        List<DataParallelTest.Run> ranks = Ranks.run(2, g -> {
            Planner.Plan shared = SharedBudgetPlan.plan(g, g.rank() == 0 ? rankZeroProfile() : otherRankProfile(), BUDGET, 1);
            return DataParallelTest.train(g, ZeroStage.STAGE_3, shared.policy(), 1.0, data, 1);
        });
        DataParallelTest.assertMatches(single, ranks, "stage 3 under " + plan.describe());
    }
}
