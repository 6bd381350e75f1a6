package dev.memwall.kernels;

import dev.memwall.autograd.Scope;
import dev.memwall.memory.Category;
import dev.memwall.memory.MemoryTracker;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** GEMM's staging buffers are counted (WORKSPACE), bounded by the largest GEMM, and freed with the thread's scope. */
class GemmWorkspaceTest {
    private static void gemm(int m, int n, int k) {
        Gemm.sgemm(false, false, m, n, k, 1f, new float[m * k], 0, new float[k * n], 0, 0f, new float[m * n], 0);
    }

    /** Bytes staged by one small (unsplit) GEMM: A, B and C once each. */
    private static long staged(int m, int n, int k) {
        return 4L * ((long) m * k + (long) k * n + (long) m * n);
    }

    @Test
    void aGemmsStagingIsCountedByTheCurrentTracker() {
        MemoryTracker tracker = new MemoryTracker();
        try (var installed = MemoryTracker.install(tracker)) {
            gemm(8, 6, 4);
            assertThat(tracker.currentTotal()).as("staging buffers are counted").isEqualTo(staged(8, 6, 4));
            assertThat(tracker.current(Category.WORKSPACE)).isEqualTo(staged(8, 6, 4));
            long allocations = tracker.allocationCount();
            gemm(8, 6, 4);
            gemm(4, 3, 2);
            assertThat(tracker.allocationCount()).as("same or smaller GEMMs reuse the buffers").isEqualTo(allocations);
            gemm(16, 6, 4); // A and C grow, B does not
            assertThat(tracker.current(Category.WORKSPACE)).isEqualTo(staged(16, 6, 4));
            assertThat(tracker.peak(Category.WORKSPACE)).isEqualTo(staged(16, 6, 4));
            Gemm.releaseWorkspace();
            assertThat(tracker.current(Category.WORKSPACE)).isZero();
            assertThat(GemmWorkspace.bytesHeld()).isZero();
        }
    }

    @Test
    void theWorkspaceGoesWhenTheThreadsOutermostScopeCloses() {
        MemoryTracker tracker = new MemoryTracker();
        try (var installed = MemoryTracker.install(tracker)) {
            try (Scope step = Scope.open()) {
                try (Scope inner = Scope.open()) {
                    gemm(8, 6, 4);
                }
                assertThat(tracker.current(Category.WORKSPACE)).as("kept while the step goes on").isEqualTo(staged(8, 6, 4));
            }
            assertThat(tracker.current(Category.WORKSPACE)).isZero();
            assertThat(tracker.currentTotal()).isZero();
        }
    }

    @Test
    void aNewTrackerCountsTheWorkspaceFromItsFirstGemm() {
        MemoryTracker first = new MemoryTracker(), second = new MemoryTracker();
        try (var a = MemoryTracker.install(first)) {
            gemm(8, 6, 4);
            try (var b = MemoryTracker.install(second)) {
                gemm(2, 2, 2);
                assertThat(first.current(Category.WORKSPACE)).as("given back to the tracker that counted it").isZero();
                assertThat(second.current(Category.WORKSPACE)).isEqualTo(staged(2, 2, 2));
                Gemm.releaseWorkspace();
                assertThat(second.currentTotal()).isZero();
            }
        }
    }
}
