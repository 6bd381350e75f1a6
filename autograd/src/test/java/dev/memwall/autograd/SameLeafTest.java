package dev.memwall.autograd;

import dev.memwall.memory.Category;
import dev.memwall.ops.F;
import org.assertj.core.data.Offset;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * {@link Tensor#sameLeafAs}: two handles on different buffers (ZeRO stage 3 gathers a parameter afresh for each use)
 * both deliver to one leaf's gradient-ready hook, which gets their sum once, even when the leaf's own handle is
 * released.
 */
class SameLeafTest {
    private static final float[] X = {0.5f, -1.2f, 2f};
    private static final float[] W = {1.5f, 0.3f, -0.7f};

    @Test
    void viewsOnTwoBuffersReachTheLeafsHookOnceWithTheirSum() {
        try (Scope s = Scope.open()) {
            Tensor leaf = Tensor.of(W, 3).requiresGrad(true).name("w");
            List<float[]> got = new ArrayList<>();
            leaf.onGradientReady(g -> got.add(g.toFloatArray()));
            Tensor first = Tensor.empty(DType.FP32, Category.COMMUNICATION, "gather", 3);
            Tensor second = Tensor.empty(DType.FP32, Category.COMMUNICATION, "gather", 3);
            System.arraycopy(W, 0, first.data(), 0, 3);
            System.arraycopy(W, 0, second.data(), 0, 3);
            Tensor a = Tensor.view(first, 0, 3).sameLeafAs(leaf), b = Tensor.view(second, 0, 3).sameLeafAs(leaf);
            leaf.release();
            assertThat(a.name()).isEqualTo("w");
            Tensor x = Tensor.of(X, 3);
            // y = Σ a·x + Σ b·b: d y/d w = x + 2w, delivered through both handles
            F.add(F.sumAll(F.mul(a, x)), F.sumAll(F.mul(b, b))).backward();
            assertThat(got).hasSize(1);
            for (int i = 0; i < 3; i++) assertThat(got.get(0)[i]).isCloseTo(X[i] + 2 * W[i], Offset.offset(1e-6f));
            for (Tensor t : new Tensor[] {a, b, first, second}) t.release();
        }
    }

    @Test
    void onlyLeavesShareAnIdentity() {
        try (Scope s = Scope.open()) {
            Tensor leaf = Tensor.of(W, 3).requiresGrad(true);
            Tensor y = F.mulScalar(leaf, 2f);
            assertThatThrownBy(() -> y.sameLeafAs(leaf)).isInstanceOf(IllegalStateException.class).hasMessageContaining("leaves");
            assertThatThrownBy(() -> Tensor.of(X, 3).sameLeafAs(y)).isInstanceOf(IllegalStateException.class);
        }
    }
}
