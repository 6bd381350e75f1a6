package dev.memwall.checkpoint;

import dev.memwall.autograd.Recompute;
import dev.memwall.autograd.Scope;
import dev.memwall.autograd.Tensor;
import dev.memwall.nn.Gpt;
import dev.memwall.nn.GptConfig;
import dev.memwall.ops.F;
import dev.memwall.rng.Rng;
import org.assertj.core.data.Offset;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Gradient-ready hooks ({@link Tensor#onGradientReady}) under recomputation: a recomputed region records new nodes
 * with edges into the same parameters, but only the graph being run counts, so each parameter is reported exactly
 * once per backward with its whole gradient (DeepSpeed asserts "Gradient computed twice for this partition" when a
 * recomputation fires its hooks again, deepspeedai/DeepSpeed#988).
 */
class GradientReadyUnderRecomputeTest {
    private static final float[] X = {0.5f, -1.2f, 2f};
    private static final float[] W = {1.5f, 0.3f, -0.7f};

    /** Σ x·w·w inside a checkpointed region: two edges into w, recomputed in backward; one call with 2·x·w. */
    @Test
    void aWeightUsedTwiceInACheckpointedRegionIsReportedOnce() {
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.of(X, 3).requiresGrad(true);
            Tensor w = Tensor.of(W, 3).requiresGrad(true);
            List<float[]> calls = new ArrayList<>();
            w.onGradientReady(g -> calls.add(g.toFloatArray()));
            Tensor y = Checkpoint.apply(in -> F.mul(F.mul(in[0], w), w), x);
            F.sumAll(y).backward();
            assertThat(calls).hasSize(1);
            for (int i = 0; i < 3; i++) assertThat(calls.get(0)[i]).isCloseTo(2 * X[i] * W[i], Offset.offset(1e-6f));
        }
    }

    /** The same with the product marked for selective recomputation: one call with the whole gradient. */
    @Test
    void aWeightInsideASelectiveRecipeIsReportedOnce() {
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.of(X, 3).requiresGrad(true);
            Tensor w = Tensor.of(W, 3).requiresGrad(true);
            List<float[]> calls = new ArrayList<>();
            w.onGradientReady(g -> calls.add(g.toFloatArray()));
            Tensor y;
            try (var session = Recompute.begin(List.of())) {
                Tensor h = Recompute.of(in -> F.mul(in[0], w), x); // marked: recomputed, with its edge into w
                y = F.sumAll(F.mul(F.tanh(h), w));
            }
            y.backward();
            assertThat(calls).hasSize(1);
            for (int i = 0; i < 3; i++) {
                double h = X[i] * W[i], t = Math.tanh(h);
                assertThat((double) calls.get(0)[i]).isCloseTo(t + W[i] * (1 - t * t) * X[i], Offset.offset(1e-5));
            }
        }
    }

    /**
     * A GPT under EVERY_LAYER and SELECTIVE, two backwards: every parameter is reported exactly once per backward, and
     * what it is handed is bitwise the gradient the same model accumulates into {@code .grad()} without checkpointing.
     */
    @Test
    void everyGptParameterIsReportedOncePerBackwardWithItsWholeGradient() {
        GptConfig c = new GptConfig(40, 8, 16, 2, 2, 0f);
        Map<String, float[]> reference = new LinkedHashMap<>();
        Gpt plain = new Gpt(c, new Rng(3));
        backward(plain, 1);
        plain.namedParameters().forEach((k, t) -> reference.put(k, t.grad().toFloatArray()));
        for (Policy p : List.of(Policy.everyLayer(2), Policy.selective(2))) {
            Gpt model = new Gpt(c, new Rng(3));
            Checkpointing.install(model, p);
            Map<String, List<float[]>> calls = new LinkedHashMap<>();
            model.namedParameters().forEach((k, t) -> {
                calls.put(k, new ArrayList<>());
                t.onGradientReady(g -> calls.get(k).add(g.toFloatArray()));
            });
            backward(model, 1);
            calls.forEach((k, v) -> assertThat(v).as("%s %s after one backward", p.name(), k).hasSize(1));
            backward(model, 1);
            calls.forEach((k, v) -> {
                assertThat(v).as("%s %s after two", p.name(), k).hasSize(2);
                assertThat(v.get(0)).as("%s %s", p.name(), k).containsExactly(reference.get(k));
                assertThat(v.get(1)).as("%s %s second backward", p.name(), k).containsExactly(reference.get(k));
            });
            model.namedParameters().forEach((k, t) -> assertThat(t.grad()).as("%s .grad()", k).isNull());
        }
    }

    private static void backward(Gpt model, long seed) {
        GptConfig c = model.config();
        int n = 2 * c.context();
        int[] ids = new int[n], next = new int[n];
        Rng r = new Rng(seed);
        for (int i = 0; i < n; i++) {
            ids[i] = r.nextInt(c.vocab());
            next[i] = r.nextInt(c.vocab());
        }
        try (Scope s = Scope.open()) {
            model.loss(Tensor.ints(ids, 2, c.context()), Tensor.ints(next, 2, c.context())).backward();
        }
    }
}
