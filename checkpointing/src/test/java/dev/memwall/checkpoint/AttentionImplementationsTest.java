package dev.memwall.checkpoint;

import dev.memwall.autograd.Scope;
import dev.memwall.autograd.Tensor;
import dev.memwall.memory.Category;
import dev.memwall.memory.MemoryTracker;
import dev.memwall.nn.CausalSelfAttention;
import dev.memwall.nn.Gpt;
import dev.memwall.nn.GptConfig;
import dev.memwall.rng.Rng;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The fused attention ops (the default) under every checkpointing policy against the composed ops
 * ({@code -Dmemwall.attention=composed}) without checkpointing: the same gradients, the same activation peaks, and
 * the same profile for the budget planner. Odd shapes: T = 13, head width 8, 3 heads.
 */
class AttentionImplementationsTest {
    private static final GptConfig CONFIG = new GptConfig(40, 13, 24, 3, 4, 0f);
    private static final int BATCH = 2;

    private static <T> T with(String mode, Supplier<T> body) {
        String old = System.getProperty(CausalSelfAttention.PROPERTY);
        System.setProperty(CausalSelfAttention.PROPERTY, mode);
        try {
            return body.get();
        } finally {
            if (old == null) System.clearProperty(CausalSelfAttention.PROPERTY);
            else System.setProperty(CausalSelfAttention.PROPERTY, old);
        }
    }

    private static Tensor[] batch() {
        int n = BATCH * CONFIG.context();
        int[] ids = new int[n], next = new int[n];
        Rng r = new Rng(5);
        for (int i = 0; i < n; i++) {
            ids[i] = r.nextInt(CONFIG.vocab());
            next[i] = r.nextInt(CONFIG.vocab());
        }
        return new Tensor[]{Tensor.ints(ids, BATCH, CONFIG.context()), Tensor.ints(next, BATCH, CONFIG.context())};
    }

    /** Every parameter's gradient after one step under {@code policy}, and the step's peak ACTIVATION bytes. */
    private static Map<String, float[]> step(Policy policy) {
        MemoryTracker tracker = new MemoryTracker();
        try (var installed = MemoryTracker.install(tracker)) {
            Gpt model = new Gpt(CONFIG, new Rng(3));
            Checkpointing.install(model, policy);
            Tensor[] b = batch();
            try (Scope s = Scope.open()) {
                model.loss(b[0], b[1]).backward();
            }
            Map<String, float[]> out = new LinkedHashMap<>();
            model.namedParameters().forEach((k, t) -> out.put(k, t.grad().toFloatArray()));
            assertThat(tracker.current(Category.ACTIVATION)).isZero();
            out.put("peak activation", new float[]{tracker.peak(Category.ACTIVATION)});
            return out;
        }
    }

    private static Planner.Profile profile() {
        Gpt model = new Gpt(CONFIG, new Rng(3));
        Tensor[] b = batch();
        return Profiler.profile(model, b[0], b[1], 0);
    }

    @Test
    void everyPolicyGivesTheComposedGradientsAndActivationPeaks() {
        int layers = CONFIG.layers();
        Planner.Profile profile = with("fused", AttentionImplementationsTest::profile);
        long none = Planner.predictTotal(profile, Policy.none(layers));
        Policy budget = Planner.plan(profile, (Planner.minimumFeasible(profile) + none) / 2).policy();
        List<Policy> policies = new ArrayList<>(List.of(Policy.none(layers), Policy.everyLayer(layers),
                Policy.everyK(layers, 3), Policy.sqrt(layers), Policy.selective(layers), budget));
        Map<String, float[]> reference = with("composed", () -> step(Policy.none(layers)));
        reference.remove("peak activation");
        for (Policy p : policies) {
            Map<String, float[]> composed = with("composed", () -> step(p));
            Map<String, float[]> fused = with("fused", () -> step(p));
            assertThat(fused.remove("peak activation")).as(p.describe() + " peak activation bytes")
                    .containsExactly(composed.remove("peak activation"));
            reference.forEach((name, want) -> {
                float[] got = fused.get(name);
                double diff = 0, norm = 0;
                for (int i = 0; i < want.length; i++) {
                    diff += (double) (got[i] - want[i]) * (got[i] - want[i]);
                    norm += (double) want[i] * want[i];
                }
                assertThat(norm).as(name).isGreaterThan(0);
                assertThat(Math.sqrt(diff / norm)).as(p.describe() + " " + name).isLessThan(1e-5);
            });
        }
    }

    @Test
    void thePlannerSeesTheSameBytesForBothImplementations() {
        Planner.Profile fused = with("fused", AttentionImplementationsTest::profile);
        Planner.Profile composed = with("composed", AttentionImplementationsTest::profile);
        assertThat(fused.saved()).as("saved per block").containsExactly(composed.saved());
        assertThat(fused.selectiveSaved()).as("kept per selective block").containsExactly(composed.selectiveSaved());
        assertThat(fused.base()).isEqualTo(composed.base());
        assertThat(fused.head()).isEqualTo(composed.head());
        // what a selective block's backward briefly adds: the fused one holds no more than the composed one
        for (int i = 0; i < fused.layers(); i++) {
            assertThat(fused.selectiveExtra()[i]).as("block " + i).isLessThanOrEqualTo(composed.selectiveExtra()[i]);
        }
    }
}
