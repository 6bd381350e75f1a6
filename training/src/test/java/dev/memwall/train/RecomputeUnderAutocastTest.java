package dev.memwall.train;

import dev.memwall.autograd.Scope;
import dev.memwall.autograd.Tensor;
import dev.memwall.checkpoint.Checkpointing;
import dev.memwall.checkpoint.Policy;
import dev.memwall.memory.Category;
import dev.memwall.memory.MemoryEvent;
import dev.memwall.memory.MemoryTracker;
import dev.memwall.memory.Phase;
import dev.memwall.nn.Gpt;
import dev.memwall.nn.GptConfig;
import dev.memwall.precision.Autocast;
import dev.memwall.rng.Rng;
import org.junit.jupiter.api.Test;

import java.util.Map;
import java.util.function.Supplier;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Checkpointing policies under autocast, which has nodes keep some saved activations as BF16 copies: they must still
 * drop and recompute what they do in FP32 (a copy is a new tensor, yet it is the marked value), and backward must read
 * bitwise the values it reads without checkpointing, so the gradients are those of the plain autocast step exactly.
 */
class RecomputeUnderAutocastTest {
    private static final GptConfig CONFIG = new GptConfig(48, 32, 32, 4, 2, 0.1f);
    private static final int BATCH = 3;

    /** Peak ACTIVATION, whether a RECOMPUTE phase ran, and every parameter's gradient, of one step. */
    private record Step(long peak, boolean recomputed, Map<String, float[]> grads) {
    }

    private static Step step(Policy policy, Supplier<Autocast> region) {
        MemoryTracker tracker = new MemoryTracker();
        tracker.record(true);
        try (var installed = MemoryTracker.install(tracker)) {
            Gpt model = new Gpt(CONFIG, new Rng(5), new Rng(9));
            if (policy != null) Checkpointing.install(model, policy);
            int n = BATCH * CONFIG.context();
            int[] ids = new int[n], next = new int[n];
            Rng data = new Rng(17);
            for (int i = 0; i < n; i++) {
                ids[i] = data.nextInt(CONFIG.vocab());
                next[i] = data.nextInt(CONFIG.vocab());
            }
            tracker.resetPeaks();
            try (Scope s = Scope.open(); Autocast ac = region == null ? null : region.get()) {
                model.loss(Tensor.ints(ids, BATCH, CONFIG.context()), Tensor.ints(next, BATCH, CONFIG.context())).backward();
                assertThat(tracker.current(Category.ACTIVATION)).as("activations left after backward").isZero();
            }
            boolean recomputed = false;
            for (MemoryEvent e : tracker.events()) recomputed |= e.phase() == Phase.RECOMPUTE;
            Map<String, float[]> grads = new java.util.TreeMap<>();
            model.namedParameters().forEach((name, p) -> grads.put(name, p.grad().toFloatArray()));
            return new Step(tracker.peak(Category.ACTIVATION), recomputed, grads);
        }
    }

    @Test
    void selectiveUnderBf16KeepsLessThanEitherAloneAndRecomputes() {
        int layers = CONFIG.layers();
        Step noneBf16 = step(null, Autocast::bf16);
        Step selectiveFp32 = step(Policy.selective(layers), null);
        Step selectiveBf16 = step(Policy.selective(layers), Autocast::bf16);
        assertThat(selectiveFp32.recomputed()).as("FP32 SELECTIVE recomputes").isTrue();
        assertThat(selectiveBf16.recomputed()).as("BF16 SELECTIVE recomputes").isTrue();
        assertThat(selectiveBf16.peak()).as("BF16 SELECTIVE below BF16 without checkpointing").isLessThan(noneBf16.peak());
        assertThat(selectiveBf16.peak()).as("BF16 SELECTIVE below FP32 SELECTIVE").isLessThan(selectiveFp32.peak());
    }

    @Test
    void everyPolicyUnderAutocastRecomputesBitwiseWhatItWouldHaveKept() {
        int layers = CONFIG.layers();
        Map<String, Supplier<Autocast>> regions = Map.of("bf16", Autocast::bf16, "fp16", Autocast::fp16);
        for (var r : regions.entrySet()) {
            Supplier<Autocast> region = r.getValue();
            Step plain = step(null, region);
            for (Policy policy : new Policy[] {Policy.selective(layers), Policy.everyLayer(layers),
                    Policy.checkpointBlocks("BUDGET", new boolean[] {true, false})}) {
                Step s = step(policy, region);
                String what = policy.describe() + " under " + r.getKey();
                assertThat(s.recomputed()).as("%s recomputes", what).isTrue();
                assertThat(s.peak()).as("%s keeps less", what).isLessThan(plain.peak());
                for (var e : plain.grads().entrySet()) {
                    assertThat(s.grads().get(e.getKey())).as("%s: gradient of %s", what, e.getKey()).containsExactly(e.getValue());
                }
            }
        }
    }
}
