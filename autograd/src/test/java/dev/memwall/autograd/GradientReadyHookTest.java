package dev.memwall.autograd;

import dev.memwall.ops.F;
import org.assertj.core.data.Offset;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * {@link Tensor#onGradientReady}: the hook gets a leaf's whole gradient of one backward, once, as soon as no further
 * contribution can arrive — which is what ZeRO stage 2's buckets wait for.
 */
class GradientReadyHookTest {
    private static final float[] X = {0.5f, -1.2f, 2f};
    private static final float[] W = {1.5f, 0.3f, -0.7f};

    /** Records each call: the leaf's name and a copy of the gradient handed over. */
    private static final class Calls {
        final List<String> names = new ArrayList<>();
        final List<float[]> grads = new ArrayList<>();

        void hook(Tensor leaf, String name) {
            leaf.onGradientReady(g -> {
                names.add(name);
                grads.add(g.toFloatArray());
            });
        }
    }

    /** y = Σ (w·x + w·w): three edges into w, one call with d y/d w = x + 2w (analytic); .grad() is left alone. */
    @Test
    void aLeafUsedThreeTimesGetsOneCallWithTheSum() {
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.of(X, 3);
            Tensor w = Tensor.of(W, 3).requiresGrad(true);
            Calls calls = new Calls();
            calls.hook(w, "w");
            F.sumAll(F.add(F.mul(w, x), F.mul(w, w))).backward();
            assertThat(calls.names).containsExactly("w");
            for (int i = 0; i < 3; i++) {
                assertThat(calls.grads.get(0)[i]).isCloseTo(X[i] + 2 * W[i], Offset.offset(1e-6f));
            }
            assertThat(w.grad()).as("the hook takes the gradient instead of .grad()").isNull();
            // a second backward: one more call, not an accumulated one
            F.sumAll(F.mul(w, x)).backward();
            assertThat(calls.names).containsExactly("w", "w");
            for (int i = 0; i < 3; i++) assertThat(calls.grads.get(1)[i]).isCloseTo(X[i], Offset.offset(1e-6f));
        }
    }

    /**
     * y = Σ tanh(a·x)·b: b's only edge is the last op, a's the first; b is reported while a's gradient is still to
     * come, i.e. during backward, not at its end.
     */
    @Test
    void aLeafIsReportedAsSoonAsItsLastContributionArrived() {
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.of(X, 3);
            Tensor a = Tensor.of(W, 3).requiresGrad(true);
            Tensor b = Tensor.of(X, 3).requiresGrad(true);
            List<String> order = new ArrayList<>();
            a.onGradientReady(g -> order.add("a"));
            b.onGradientReady(g -> order.add("b"));
            F.sumAll(F.mul(F.tanh(F.mul(a, x)), b)).backward();
            assertThat(order).containsExactly("b", "a");
        }
    }

    /** A hooked leaf outside the graph is not called; Engine.grad never calls hooks; createGraph is refused. */
    @Test
    void unusedLeavesGradAndCreateGraph() {
        try (Scope s = Scope.open()) {
            Tensor w = Tensor.of(W, 3).requiresGrad(true);
            Tensor unused = Tensor.of(X, 3).requiresGrad(true);
            Calls calls = new Calls();
            calls.hook(w, "w");
            calls.hook(unused, "unused");
            F.sumAll(F.mul(w, w)).backward();
            assertThat(calls.names).containsExactly("w");
            Tensor g = Engine.grad(F.sumAll(F.mul(w, w)), w, false);
            assertThat(g.toFloatArray()[0]).isCloseTo(2 * W[0], Offset.offset(1e-6f));
            assertThat(calls.names).as("grad() returns gradients, it does not report them").containsExactly("w");
            Tensor y = F.sumAll(F.mul(w, w));
            assertThatThrownBy(() -> y.backward(Tensor.scalar(1f), true, true))
                    .isInstanceOf(IllegalStateException.class).hasMessageContaining("createGraph");
            w.onGradientReady(null);
            F.sumAll(F.mul(w, w)).backward();
            assertThat(calls.names).as("hook removed: accumulates into .grad() again").containsExactly("w");
            assertThat(w.grad().toFloatArray()[0]).isCloseTo(2 * W[0], Offset.offset(1e-6f));
        }
    }

    @Test
    void onlyLeavesTakeAHook() {
        try (Scope s = Scope.open()) {
            Tensor w = Tensor.of(W, 3).requiresGrad(true);
            Tensor h = F.mul(w, w);
            assertThatThrownBy(() -> h.onGradientReady(g -> { })).isInstanceOf(IllegalStateException.class).hasMessageContaining("leaf");
        }
    }
}
