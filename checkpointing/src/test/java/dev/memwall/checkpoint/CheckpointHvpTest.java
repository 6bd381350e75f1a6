package dev.memwall.checkpoint;

import dev.memwall.autograd.Scope;
import dev.memwall.autograd.Tensor;
import dev.memwall.memory.MemoryTracker;
import dev.memwall.nn.Gpt;
import dev.memwall.rng.Rng;
import dev.memwall.testing.GptHvp;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * H·v through {@code nn.Gpt} under every checkpointing policy, against central differences of the double-precision
 * reference GPT, each parameter block against its own norm: a recomputed region or value whose history is lost under
 * createGraph makes the blocks behind it wrong.
 */
class CheckpointHvpTest {
    private static final GptHvp.Problem PROBLEM = GptHvp.problem(GptHvp.TINY, 2, 11);
    private static Map<String, double[]> reference;

    private static synchronized Map<String, double[]> reference() {
        if (reference == null) reference = GptHvp.reference(PROBLEM);
        return reference;
    }

    @TestFactory
    Stream<DynamicTest> hvpUnderEveryPolicyMatchesDoublePrecisionFiniteDifferences() {
        int layers = GptHvp.TINY.layers();
        List<Policy> policies = List.of(Policy.none(layers), Policy.everyLayer(layers), Policy.everyK(layers, 2),
                Policy.sqrt(layers), Policy.selective(layers), Policy.checkpointBlocks("BUDGET-like", new boolean[]{true, false}),
                new Policy("mixed modes", List.of(new int[]{0, 1, Policy.SELECTIVE}, new int[]{1, 2, Policy.RECOMPUTE})));
        return Stream.concat(policies.stream(), Stream.of(budgetPlan())).map(p -> DynamicTest.dynamicTest(p.describe(), () -> {
            Gpt model = new Gpt(GptHvp.TINY, new Rng(1));
            GptHvp.load(model, PROBLEM);
            Checkpointing.install(model, p);
            assertThat(GptHvp.mismatches(GptHvp.memwall(model, PROBLEM), reference(), GptHvp.TOL)).isEmpty();
        }));
    }

    /** The planner's choice for a budget halfway between the smallest feasible one and what NONE needs. */
    private static Policy budgetPlan() {
        Gpt model = new Gpt(GptHvp.TINY, new Rng(1));
        GptHvp.load(model, PROBLEM);
        try (var installed = MemoryTracker.install(new MemoryTracker()); Scope s = Scope.open()) {
            Tensor[] batch = GptHvp.batch(PROBLEM);
            Planner.Profile profile = Profiler.profile(model, batch[0], batch[1], 0);
            long none = Planner.predictTotal(profile, Policy.none(GptHvp.TINY.layers()));
            return Planner.plan(profile, (Planner.minimumFeasible(profile) + none) / 2).policy();
        }
    }
}
