package dev.memwall.memory;

import dev.memwall.autograd.DType;
import dev.memwall.autograd.Tensor;
import dev.memwall.format.Bf16;
import dev.memwall.format.Overflow;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * BF16 and FP16 storage arrays go back to the {@link ArrayCache} like FP32 ones: autocast makes and drops a BF16 copy
 * of every GEMM operand each step, which would otherwise be that much garbage per step.
 */
class ShortArrayCacheTest {
    /**
     * A conversion writes every element of its output, so it takes a reused array without zeroing it: what the array
     * held before must not show through, in either direction.
     */
    @Test
    void conversionsIntoReusedArraysAreExact() {
        MemoryTracker tracker = new MemoryTracker();
        try (var installed = MemoryTracker.install(tracker)) {
            ArrayCache.clear();
            int n = 3000;
            Tensor part = Tensor.randn(new dev.memwall.rng.Rng(9), 1f, n);
            Tensor dirty16 = Tensor.empty(DType.BF16, Category.TEMPORARY, "dirty", n);
            java.util.Arrays.fill(dirty16.shortData(), (short) 0x7FC0);
            short[] dirtyShorts = dirty16.shortData();
            Tensor dirty32 = Tensor.full(Float.NaN, n);
            float[] dirtyFloats = dirty32.data();
            dirty16.release();
            dirty32.release();
            Tensor low = part.to(DType.BF16, Overflow.NON_SATURATE);
            assertThat(low.shortData()).as("the cached array, reused").isSameAs(dirtyShorts);
            Tensor back = low.to(DType.FP32, Overflow.NON_SATURATE);
            assertThat(back.data()).as("the cached array, reused").isSameAs(dirtyFloats);
            float[] values = part.toFloatArray();
            for (int i = 0; i < n; i++) {
                short want = Bf16.fromFloat(values[i], Overflow.NON_SATURATE);
                assertThat(low.shortData()[i]).as("element %d", i).isEqualTo(want);
                assertThat(back.data()[i]).as("element %d", i).isEqualTo(Bf16.toFloat(want));
            }
            for (Tensor t : new Tensor[]{part, low, back}) t.release();
            ArrayCache.clear();
        }
    }

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
