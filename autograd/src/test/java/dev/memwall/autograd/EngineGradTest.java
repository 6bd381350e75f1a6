package dev.memwall.autograd;

import dev.memwall.memory.Category;
import dev.memwall.memory.MemoryTracker;
import dev.memwall.ops.F;
import org.assertj.core.data.Offset;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** {@code Engine.grad} as {@code torch.autograd.grad}: which paths count, and who owns the handles it returns. */
class EngineGradTest {
    private static final float[] X = {0.5f, -1.2f, 2f};

    /**
     * y = sum(h · x) with h = x²: dy/dh = x and, counting the path through h, dy/dx = h + x · 2x = 3x². PyTorch returns
     * exactly these for {@code grad(y, [h, x])}; stopping at h would give dy/dx = h = x².
     */
    @Test
    void gradWrtAnIntermediateAndTheLeafBehindItFollowsEveryPath() {
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.of(X, 3).requiresGrad(true);
            Tensor h = F.mul(x, x);
            Tensor y = F.sumAll(F.mul(h, x));
            Tensor[] g = Engine.grad(new Tensor[]{y}, new Tensor[]{h, x}, null, false);
            for (int i = 0; i < 3; i++) {
                assertThat(g[0].toFloatArray()[i]).as("dy/dh").isCloseTo(X[i], Offset.offset(1e-6f));
                assertThat(g[1].toFloatArray()[i]).as("dy/dx").isCloseTo(3 * X[i] * X[i], Offset.offset(1e-5f));
            }
            // the same in the other order, and with the leaf given twice
            Tensor y2 = F.sumAll(F.mul(F.mul(x, x), x));
            Tensor[] g2 = Engine.grad(new Tensor[]{y2}, new Tensor[]{x, x}, null, false);
            for (int i = 0; i < 3; i++) assertThat(g2[1].toFloatArray()[i]).isCloseTo(3 * X[i] * X[i], Offset.offset(1e-5f));
        }
    }

    /** Two intermediates on one chain, z = exp(h), h = 2x: both captured, and the chain behind the later one still runs. */
    @Test
    void intermediatesOnOneChainAreAllCaptured() {
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.of(X, 3).requiresGrad(true);
            Tensor h = F.mulScalar(x, 2f);
            Tensor z = F.exp(h);
            Tensor y = F.sumAll(z);
            Tensor[] g = Engine.grad(new Tensor[]{y}, new Tensor[]{z, h, x}, null, true);
            for (int i = 0; i < 3; i++) {
                double e = Math.exp(2 * X[i]);
                assertThat(g[0].toFloatArray()[i]).isEqualTo(1f);
                assertThat((double) g[1].toFloatArray()[i]).isCloseTo(e, Offset.offset(1e-5 * e));
                assertThat((double) g[2].toFloatArray()[i]).isCloseTo(2 * e, Offset.offset(1e-5 * e));
            }
            // createGraph: the captured gradient of x is differentiable, d/dx sum(dy/dx) = 4 exp(2x)
            Tensor gg = Engine.grad(new Tensor[]{F.sumAll(g[2])}, new Tensor[]{x}, null, false)[0];
            for (int i = 0; i < 3; i++) {
                double e = Math.exp(2 * X[i]);
                assertThat((double) gg.toFloatArray()[i]).isCloseTo(4 * e, Offset.offset(1e-5 * e));
            }
        }
    }

    /** Bytes in use (any category) after {@code body} ran inside a scope that then closed. */
    private static long bytesLeftAfterScope(Runnable body) {
        MemoryTracker tracker = new MemoryTracker();
        try (var installed = MemoryTracker.install(tracker)) {
            try (Scope s = Scope.open()) {
                body.run();
            }
            long left = 0;
            for (Category c : Category.values()) left += tracker.current(c);
            return left;
        }
    }

    @Test
    void duplicatedInputsLeaveNothingBehindWhenTheScopeCloses() {
        assertThat(bytesLeftAfterScope(() -> {
            Tensor x = Tensor.of(X, 3).requiresGrad(true);
            Tensor[] g = Engine.grad(new Tensor[]{F.sumAll(F.mul(x, x))}, new Tensor[]{x, x, x}, null, false);
            assertThat(g[2].toFloatArray()).containsExactly(g[0].toFloatArray());
        })).isZero();
    }

    @Test
    void aGivenOutputGradientLeavesNothingBehind() {
        assertThat(bytesLeftAfterScope(() -> {
            Tensor x = Tensor.of(X, 3).requiresGrad(true);
            Tensor y = F.mulScalar(x, 3f);
            Tensor v = Tensor.of(new float[]{1f, 2f, 3f}, 3);
            // the output is an input too: its gradient is the given one
            Tensor[] g = Engine.grad(new Tensor[]{y}, new Tensor[]{y}, new Tensor[]{v}, false);
            assertThat(g[0].toFloatArray()).containsExactly(1f, 2f, 3f);
            Tensor leafOut = Engine.grad(new Tensor[]{x}, new Tensor[]{x}, new Tensor[]{v}, false)[0];
            assertThat(leafOut.toFloatArray()).containsExactly(1f, 2f, 3f);
        })).isZero();
    }

    @Test
    void aRejectedOutputGradientLeavesNothingBehind() {
        assertThat(bytesLeftAfterScope(() -> {
            Tensor x = Tensor.of(X, 3).requiresGrad(true);
            Tensor y = F.mulScalar(x, 3f);
            Tensor wrong = Tensor.of(new float[]{1f, 2f}, 2);
            assertThatThrownBy(() -> Engine.grad(new Tensor[]{y}, new Tensor[]{x}, new Tensor[]{wrong}, false))
                    .hasMessageContaining("[2]").hasMessageContaining("[3]");
        })).isZero();
    }

    @Test
    void anUnusedDuplicatedInputIsNullWithAllowUnused() {
        assertThat(bytesLeftAfterScope(() -> {
            Tensor x = Tensor.of(X, 3).requiresGrad(true), unused = Tensor.of(X, 3).requiresGrad(true);
            Tensor y = F.sumAll(F.mul(x, x));
            Tensor[] g = Engine.grad(new Tensor[]{y}, new Tensor[]{unused, x, unused}, null, false, false, true);
            assertThat(g[0]).isNull();
            assertThat(g[2]).isNull();
            assertThat(g[1].toFloatArray()[0]).isEqualTo(1f);
            Tensor y2 = F.sumAll(F.mul(x, x));
            assertThatThrownBy(() -> Engine.grad(new Tensor[]{y2}, new Tensor[]{x, unused, unused}, null, false))
                    .hasMessageContaining("input 1 was not used");
        })).isZero();
    }

    /** A given output gradient that reaches a leaf unchanged becomes its .grad(); accumulating later must not write into it. */
    @Test
    void accumulatingIntoAGradFromAGivenOutputGradientLeavesTheCallersTensorAlone() {
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.of(X, 3).requiresGrad(true);
            Tensor v = Tensor.of(new float[]{1f, 2f, 3f}, 3);
            F.addScalar(x, 1f).backward(v, false, true);
            F.addScalar(x, 1f).backward(Tensor.of(new float[]{10f, 10f, 10f}, 3), false, false);
            assertThat(v.toFloatArray()).containsExactly(1f, 2f, 3f);
            assertThat(x.grad().toFloatArray()).containsExactly(11f, 12f, 13f);
        }
    }
}
