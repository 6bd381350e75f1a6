package dev.memwall.memory;

import dev.memwall.autograd.DType;
import dev.memwall.autograd.Tensor;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * BF16 and FP16 storage arrays go back to the {@link ArrayCache} like FP32 ones: autocast makes and drops a BF16 copy
 * of every GEMM operand each step, which would otherwise be that much garbage per step.
 */
class ShortArrayCacheTest {
    @Test
    void releasedSixteenBitArraysAreReusedZeroedAndReported() {
        MemoryTracker tracker = new MemoryTracker();
        try (var installed = MemoryTracker.install(tracker)) {
            ArrayCache.clear();
            int n = 1 << 12;
            Tensor x = Tensor.empty(DType.BF16, Category.TEMPORARY, "probe", n);
            short[] array = x.shortData();
            java.util.Arrays.fill(array, (short) 0x3FC0);
            x.release();
            assertThat(tracker.current(Category.TEMPORARY)).isZero();
            assertThat(ArrayCache.cachedBytes()).as("2 bytes per element wait in the cache").isEqualTo(2L * n);
            long hits = ArrayCache.hits();
            Tensor again = Tensor.empty(DType.FP16, Category.TEMPORARY, "probe", n);
            assertThat(ArrayCache.hits()).isEqualTo(hits + 1);
            assertThat(again.shortData()).as("the same array, zeroed").isSameAs(array).containsOnly((short) 0);
            assertThat(ArrayCache.cachedBytes()).isZero();
            assertThat(tracker.current(Category.TEMPORARY)).isEqualTo(2L * n);
            again.release();
            ArrayCache.clear();
            assertThat(ArrayCache.cachedBytes()).isZero();
        }
    }
}
