package dev.memwall.kernels;

import dev.memwall.autograd.Scope;
import dev.memwall.memory.Category;
import dev.memwall.memory.MemoryTracker;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * GEMM's workspace is counted (WORKSPACE): on the staged path the staging buffers, bounded by the largest GEMM; on the
 * no-copy path nothing but split-K partial sums. Either is freed with the thread's outermost scope.
 */
class GemmWorkspaceTest {
    private static void gemm(int m, int n, int k) {
        gemm(Gemm.Path.STAGED, false, m, n, k);
    }

    private static void gemm(Gemm.Path path, boolean transA, int m, int n, int k) {
        Gemm.run(path, new GemmCall(1, transA, false, m, n, k, 1f, new float[m * k], 0, transA ? m : k, 0,
                new float[k * n], 0, n, 0, 0f, new float[m * n], 0, n, 0));
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

    /** The process's own path (the no-copy one wherever a compiler built it) stages nothing for an unsplit GEMM. */
    @Test
    void theNoCopyPathHoldsNoStagingBuffers() {
        Assumptions.assumeTrue(Gemm.path() == Gemm.Path.CRITICAL, "the no-copy binding is not in use");
        MemoryTracker tracker = new MemoryTracker();
        try (var installed = MemoryTracker.install(tracker)) {
            Gemm.sgemm(false, false, 300, 120, 90, 1f, new float[300 * 90], 0, new float[90 * 120], 0, 0f, new float[300 * 120], 0);
            Gemm.sgemmBatched(3, false, true, 60, 70, 80, 1f, new float[3 * 60 * 80], 0, 60 * 80, new float[70 * 80], 0, 0,
                    0f, new float[3 * 60 * 70], 0, 60 * 70);
            assertThat(tracker.peak(Category.WORKSPACE)).isZero();
            assertThat(tracker.allocationCount()).isZero();
        }
    }

    /** Split along k, the no-copy path keeps one m×n partial sum per extra thread, and nothing else. */
    @Test
    void theNoCopyPathsWorkspaceIsTheSplitKPartialSums() {
        Assumptions.assumeTrue(GemmReference.criticalAvailable(), "the no-copy binding is not built");
        Assumptions.assumeTrue(Parallel.threads() > 1, "split-K needs more than one kernel thread");
        int m = 40, n = 50, k = 1500;
        assertThat(GemmSplit.choose(1, true, false, m, n, k, 0f, GemmSplit.parts((long) m * n * k))).isEqualTo(GemmSplit.INNER);
        MemoryTracker tracker = new MemoryTracker();
        try (var installed = MemoryTracker.install(tracker)) {
            gemm(Gemm.Path.CRITICAL, true, m, n, k);
            assertThat(tracker.current(Category.WORKSPACE)).isEqualTo(4L * m * n * (Parallel.threads() - 1));
            Gemm.releaseWorkspace();
            assertThat(tracker.currentTotal()).isZero();
        }
    }
}
