package dev.memwall.memory;

import dev.memwall.autograd.Scope;
import dev.memwall.autograd.Tensor;
import org.junit.jupiter.api.Test;

import java.util.Arrays;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@link ArrayCache#floatsForOverwrite} hands back a cached array as it is (no zero-fill pass), {@link ArrayCache#floats}
 * zero-fills it; a tensor made by {@code Tensor.forOverwrite} is counted like any FP32 temporary.
 */
class UnfilledArraysTest {
    /** An odd length no other test allocates, so the cache's queue for it holds only this test's array. */
    private static final int LENGTH = 4099;

    @Test
    void unfilledReusesTheCachedArrayAsItIsAndFloatsZeroFillsIt() {
        float[] a = ArrayCache.floatsForOverwrite(LENGTH);
        Arrays.fill(a, 7f);
        ArrayCache.recycle(a);
        float[] b = ArrayCache.floatsForOverwrite(LENGTH);
        assertThat(b).isSameAs(a);
        assertThat(b[0]).isEqualTo(7f);
        assertThat(b[LENGTH - 1]).isEqualTo(7f);
        ArrayCache.recycle(b);
        float[] c = ArrayCache.floats(LENGTH);
        assertThat(c).isSameAs(a);
        for (float v : c) assertThat(v).isZero();
        ArrayCache.recycle(c);
    }

    @Test
    void anUninitializedTensorIsCountedAsATemporary() {
        MemoryTracker tracker = MemoryTracker.current();
        long before = tracker.current(Category.TEMPORARY);
        try (Scope s = Scope.open()) {
            Tensor t = Tensor.forOverwrite("test.unfilled", 3, LENGTH);
            assertThat(t.shape()).containsExactly(3, LENGTH);
            assertThat(tracker.current(Category.TEMPORARY) - before).isEqualTo(4L * 3 * LENGTH);
        }
        assertThat(tracker.current(Category.TEMPORARY)).isEqualTo(before);
    }
}
