package dev.memwall.memory;

import dev.memwall.autograd.DType;
import dev.memwall.autograd.Tensor;
import dev.memwall.kernels.Parallel;
import org.junit.jupiter.api.Test;

import java.util.concurrent.atomic.AtomicReference;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** One tracker per process: installs nest on one thread, bad calls change nothing, kernel threads are counted. */
class MemoryTrackerTest {
    @Test
    void installingFromAnotherThreadWhileOneIsInstalledThrowsAndChangesNothing() throws Exception {
        MemoryTracker mine = new MemoryTracker();
        try (var installed = MemoryTracker.install(mine)) {
            AtomicReference<Throwable> failure = new AtomicReference<>();
            Thread other = new Thread(() -> {
                try {
                    MemoryTracker.install(new MemoryTracker()).close();
                } catch (Throwable e) {
                    failure.set(e);
                }
            }, "other-installer");
            other.start();
            other.join();
            assertThat(failure.get()).isInstanceOf(IllegalStateException.class).hasMessageContaining("thread '" + Thread.currentThread().getName() + "'");
            assertThat(MemoryTracker.current()).isSameAs(mine);
        }
    }

    @Test
    void anotherThreadMayInstallOnceTheFirstClosed() throws Exception {
        MemoryTracker before = MemoryTracker.current();
        MemoryTracker.install(new MemoryTracker()).close();
        AtomicReference<MemoryTracker> seen = new AtomicReference<>();
        Thread other = new Thread(() -> {
            MemoryTracker t = new MemoryTracker();
            try (var installed = MemoryTracker.install(t)) {
                seen.set(MemoryTracker.current());
            }
        });
        other.start();
        other.join();
        assertThat(seen.get()).isNotNull().isNotSameAs(before);
        assertThat(MemoryTracker.current()).isSameAs(before);
    }

    @Test
    void closingAnOuterInstallFirstRestoresTheTrackerBeforeIt() {
        MemoryTracker before = MemoryTracker.current();
        MemoryTracker a = new MemoryTracker(), b = new MemoryTracker();
        var outer = MemoryTracker.install(a);
        var inner = MemoryTracker.install(b);
        assertThat(MemoryTracker.current()).isSameAs(b);
        outer.close();
        assertThat(MemoryTracker.current()).isSameAs(before);
        inner.close(); // closed with the outer one: must not bring b (or a) back
        assertThat(MemoryTracker.current()).isSameAs(before);
        try (var again = MemoryTracker.install(a)) {
            assertThat(MemoryTracker.current()).isSameAs(a);
        }
        assertThat(MemoryTracker.current()).isSameAs(before);
    }

    @Test
    void aReleaseOfBytesNeverCountedThrowsWithoutChangingAnyFigure() {
        MemoryTracker t = new MemoryTracker();
        t.record(true);
        t.allocated(Category.TEMPORARY, 100, "a");
        String before = t.toString();
        long releases = t.releaseCount();
        int events = t.events().size();

        assertThatThrownBy(() -> t.released(Category.TEMPORARY, 150, "b")).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("TEMPORARY").hasMessageContaining("150").hasMessageContaining("100");
        assertThatThrownBy(() -> t.moved(Category.TEMPORARY, Category.ACTIVATION, 101, "c")).isInstanceOf(IllegalStateException.class);
        assertThatThrownBy(() -> t.allocated(Category.TEMPORARY, -1, "d")).isInstanceOf(IllegalArgumentException.class);

        assertThat(t.toString()).isEqualTo(before);
        assertThat(t.releaseCount()).isEqualTo(releases);
        assertThat(t.allocationCount()).isEqualTo(1);
        assertThat(t.events()).hasSize(events);
        t.released(Category.TEMPORARY, 100, "e"); // the figures are still right, so the real release works
        assertThat(t.currentTotal()).isZero();
    }

    @Test
    void allocationsOnKernelThreadsAreCountedByTheProcessTracker() {
        MemoryTracker t = new MemoryTracker();
        int n = Math.max(2, Parallel.threads());
        try (var installed = MemoryTracker.install(t)) {
            Parallel.range(n, Parallel.GRAIN, (from, to) -> {
                for (int i = from; i < to; i++) Tensor.empty(DType.FP32, Category.TEMPORARY, "worker", 256).release();
            });
        }
        assertThat(t.allocationCount()).isEqualTo(n);
        assertThat(t.peak(Category.TEMPORARY)).isGreaterThanOrEqualTo(4L * 256);
        assertThat(t.currentTotal()).isZero();
    }
}
