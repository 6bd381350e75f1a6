package dev.memwall.autograd;

import dev.memwall.format.Overflow;
import dev.memwall.memory.Category;
import dev.memwall.memory.MemoryTracker;
import dev.memwall.rng.Rng;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Casting a persistent tensor makes a scoped temporary unless a persistent copy is asked for. */
class CastsTest {
    private static final int N = 1000;

    @Test
    void castingAParameterEveryStepDoesNotGrowMemory() {
        MemoryTracker tracker = new MemoryTracker();
        try (var installed = MemoryTracker.install(tracker)) {
            Tensor weight = Tensor.empty(DType.FP32, Category.PARAMETER, "weight", N);
            Tensor init = Tensor.randn(new Rng(1), 1f, N);
            System.arraycopy(init.data(), 0, weight.data(), 0, N);
            init.release();
            for (int step = 0; step < 5; step++) {
                try (Scope s = Scope.open()) { // an autocast-like step: the weight is cast to BF16 where it is used
                    Tensor low = weight.to(DType.BF16);
                    assertThat(low.storage().category()).isEqualTo(Category.TEMPORARY);
                    assertThat(low.to(DType.FP32).toFloatArray()[0]).isEqualTo(weight.data()[0], org.assertj.core.api.Assertions.within(0.01f));
                }
                assertThat(tracker.current(Category.PARAMETER)).isEqualTo(4L * N);
                assertThat(tracker.current(Category.TEMPORARY)).isZero();
            }
            assertThat(tracker.peak(Category.PARAMETER)).isEqualTo(4L * N);
        }
    }

    @Test
    void aPersistentCopyIsOnlyMadeWhenAskedForAndOutlivesTheScope() {
        MemoryTracker tracker = new MemoryTracker();
        try (var installed = MemoryTracker.install(tracker)) {
            Tensor weight = Tensor.empty(DType.FP32, Category.PARAMETER, "weight", N);
            Tensor copy;
            try (Scope s = Scope.open()) {
                copy = weight.to(DType.FP16, Overflow.SATURATE, Category.PARAMETER);
            }
            assertThat(copy.isReleased()).isFalse();
            assertThat(tracker.current(Category.PARAMETER)).isEqualTo(4L * N + 2L * N);
            copy.release();
            assertThat(tracker.current(Category.PARAMETER)).isEqualTo(4L * N);
            assertThatThrownBy(() -> weight.to(DType.FP16, Overflow.SATURATE, Category.ACTIVATION))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("ACTIVATION");
        }
    }
}
