package dev.memwall.nn;

import dev.memwall.autograd.Engine;
import dev.memwall.autograd.OpStats;
import dev.memwall.autograd.Recompute;
import dev.memwall.autograd.Scope;
import dev.memwall.autograd.Tensor;
import dev.memwall.memory.Category;
import dev.memwall.memory.MemoryTracker;
import dev.memwall.ops.F;
import dev.memwall.rng.Rng;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The module's two implementations, fused (default) and composed ({@code -Dmemwall.attention=composed}), against each
 * other: outputs, every gradient, and the exact bytes saved for backward, with and without selective recomputation.
 */
class CausalSelfAttentionTest {
    /** Runs {@code body} with the attention implementation set to {@code mode}, then restores the property. */
    static <T> T with(String mode, Supplier<T> body) {
        String old = System.getProperty(CausalSelfAttention.PROPERTY);
        System.setProperty(CausalSelfAttention.PROPERTY, mode);
        try {
            return body.get();
        } finally {
            if (old == null) System.clearProperty(CausalSelfAttention.PROPERTY);
            else System.setProperty(CausalSelfAttention.PROPERTY, old);
        }
    }

    /** Output, then the gradients of the input and of every parameter, for loss sum(w ⊙ attn(x)). */
    private static List<float[]> run(int b, int t, int d, int h, float dropout, boolean training) {
        CausalSelfAttention attn = new CausalSelfAttention(d, h, dropout, new Rng(1), new Rng(2));
        attn.train(training);
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.randn(new Rng(3), 1f, b, t, d).requiresGrad(true);
            Tensor y = attn.forward(x);
            Tensor w = Tensor.randn(new Rng(4), 1f, b, t, d);
            List<Tensor> wrt = new ArrayList<>(List.of(x));
            wrt.addAll(attn.parameters());
            Tensor[] g = Engine.grad(new Tensor[]{y}, wrt.toArray(new Tensor[0]), new Tensor[]{w}, false);
            List<float[]> out = new ArrayList<>(List.of(y.toFloatArray()));
            for (Tensor gi : g) out.add(gi.toFloatArray());
            return out;
        }
    }

    @Test
    void fusedGivesTheComposedOutputAndGradientsAtOddShapes() {
        for (int[] s : new int[][]{{1, 13, 21, 3}, {2, 9, 5, 1}, {3, 17, 12, 4}}) {
            List<float[]> fused = with("fused", () -> run(s[0], s[1], s[2], s[3], 0f, true));
            List<float[]> composed = with("composed", () -> run(s[0], s[1], s[2], s[3], 0f, true));
            assertThat(fused).hasSameSizeAs(composed);
            for (int k = 0; k < fused.size(); k++) {
                double diff = 0, norm = 0;
                for (int i = 0; i < fused.get(k).length; i++) {
                    double e = fused.get(k)[i] - composed.get(k)[i];
                    diff += e * e;
                    norm += (double) composed.get(k)[i] * composed.get(k)[i];
                }
                assertThat(norm).isGreaterThan(1e-8);
                assertThat(Math.sqrt(diff / norm)).as("shape %s, %s", java.util.Arrays.toString(s), k == 0 ? "output" : "gradient " + k)
                        .isLessThan(1e-5);
            }
        }
    }

    /** The op types one forward and backward ran. */
    private static List<String> opsRun(String mode, float dropout, boolean training) {
        OpStats.reset();
        OpStats.enable(true);
        try {
            with(mode, () -> run(2, 7, 8, 2, dropout, training));
            return OpStats.snapshot().stream().map(OpStats.Row::op).distinct().toList();
        } finally {
            OpStats.enable(false);
            OpStats.reset();
        }
    }

    @Test
    void withAttentionDropoutInTrainingTheComposedOpsRun() {
        assertThat(opsRun("fused", 0f, true)).contains("causal_attention", "causal_attention_probs").doesNotContain("causal_softmax");
        assertThat(opsRun("composed", 0f, true)).contains("causal_softmax").doesNotContain("causal_attention");
        assertThat(opsRun("fused", 0.3f, true)).contains("causal_softmax", "dropout").doesNotContain("causal_attention");
        assertThat(opsRun("fused", 0.3f, false)).as("eval: dropout is the identity").contains("causal_attention");
        List<float[]> fused = with("fused", () -> run(2, 7, 8, 2, 0.3f, true));
        List<float[]> composed = with("composed", () -> run(2, 7, 8, 2, 0.3f, true));
        for (int k = 0; k < fused.size(); k++) assertThat(fused.get(k)).containsExactly(composed.get(k));
    }

    /** ACTIVATION bytes held after the forward pass, optionally inside a selective-recomputation session. */
    private static long saved(int b, int t, int d, int h, boolean selective) {
        MemoryTracker tracker = new MemoryTracker();
        try (var installed = MemoryTracker.install(tracker); Scope s = Scope.open()) {
            CausalSelfAttention attn = new CausalSelfAttention(d, h, 0f, new Rng(1), new Rng(2));
            Tensor x = Tensor.randn(new Rng(3), 1f, b, t, d).requiresGrad(true);
            Tensor y;
            if (selective) {
                try (var session = Recompute.begin(List.of())) {
                    y = attn.forward(x);
                }
            } else {
                y = attn.forward(x);
            }
            long bytes = tracker.current(Category.ACTIVATION);
            F.sumAll(y).backward();
            assertThat(tracker.current(Category.ACTIVATION)).as("all freed by backward").isZero();
            return bytes;
        }
    }

    @Test
    void bothSaveTheSameAnalyticBytes() {
        int b = 2, t = 11, d = 15, h = 3;
        long btd = (long) b * t * d, probs = (long) b * h * t * t;
        for (String mode : List.of("fused", "composed")) {
            // qkv's input, q/k/v (or the qkv output), the probabilities, proj's input
            assertThat(with(mode, () -> saved(b, t, d, h, false))).as(mode).isEqualTo(4 * (btd + 3 * btd + probs + btd));
            // selective: qkv's input and q/k/v only; the probabilities and proj's input are recomputed
            assertThat(with(mode, () -> saved(b, t, d, h, true))).as(mode + " selective").isEqualTo(4 * (btd + 3 * btd));
        }
    }

    @Test
    void anUnknownImplementationIsNamed() {
        CausalSelfAttention attn = new CausalSelfAttention(8, 2, 0f, new Rng(1), new Rng(2));
        assertThatThrownBy(() -> with("flash", () -> attn.forward(Tensor.zeros(1, 3, 8))))
                .hasMessageContaining("-Dmemwall.attention must be fused or composed, got 'flash'");
    }
}
