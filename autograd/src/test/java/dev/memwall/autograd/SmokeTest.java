package dev.memwall.autograd;

import dev.memwall.memory.Category;
import dev.memwall.memory.MemoryTracker;
import dev.memwall.ops.F;
import dev.memwall.rng.Rng;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

class SmokeTest {
    @Test
    void squareGradientAndHvp() {
        Tensor x = Tensor.of(new float[]{1f, 2f, 3f}, 3).requiresGrad(true);
        Tensor y = x.mul(x).mul(x).sum(); // sum x^3
        Tensor g = Engine.grad(y, x, true); // 3x^2
        assertThat(g.toFloatArray()).containsExactly(3f, 12f, 27f);
        Tensor v = Tensor.of(new float[]{1f, 0f, 1f}, 3);
        Tensor gv = g.mul(v).sum();
        Tensor hv = Engine.grad(gv, x, false); // 6x * v
        assertThat(hv.toFloatArray()).containsExactly(6f, 0f, 18f);
    }

    @Test
    void mlpBackward() {
        MemoryTracker tracker = new MemoryTracker();
        try (var installed = MemoryTracker.install(tracker)) {
            Rng rng = new Rng(1);
            Tensor w1 = Tensor.randn(rng, 0.5f, 8, 4).requiresGrad(true);
            Tensor b1 = Tensor.zeros(8).requiresGrad(true);
            Tensor x = Tensor.randn(rng, 1f, 5, 4);
            Tensor t = Tensor.ints(new int[]{0, 1, 2, 3, 4}, 5);
            try (Scope s = Scope.open()) {
                Tensor h = F.gelu(F.linear(x, w1, b1));
                Tensor loss = F.crossEntropy(h, t);
                loss.backward();
                assertThat(w1.grad()).isNotNull();
                assertThat(b1.grad().numel()).isEqualTo(8);
            }
            assertThat(tracker.current(Category.ACTIVATION)).isZero();
            assertThat(tracker.peak(Category.ACTIVATION)).isPositive();
        }
    }
}
