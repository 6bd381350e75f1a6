package dev.memwall.autograd;

import dev.memwall.memory.Category;
import dev.memwall.memory.MemoryTracker;
import org.junit.jupiter.api.Test;

import java.util.concurrent.atomic.AtomicReference;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Scopes release their temporaries however they are closed: in order, out of order (exception paths), twice. */
class ScopeTest {
    @Test
    void closingAnOuterScopeFirstReleasesTheInnerScopesToo() {
        MemoryTracker tracker = new MemoryTracker();
        try (var installed = MemoryTracker.install(tracker)) {
            Scope outer = Scope.open();
            Tensor a = Tensor.zeros(10);
            Scope inner = Scope.open(); // an exception path that never reached inner.close()
            Tensor b = Tensor.zeros(20);
            assertThat(tracker.current(Category.TEMPORARY)).isEqualTo(4L * 30);

            outer.close();

            assertThat(a.isReleased()).isTrue();
            assertThat(b.isReleased()).isTrue();
            assertThat(tracker.current(Category.TEMPORARY)).isZero();
            inner.close(); // already closed with its outer scope: nothing to do, nothing thrown
            outer.close();
            assertThat(tracker.current(Category.TEMPORARY)).isZero();

            // Scopes opened afterwards work as usual: nothing stale is left on the stack.
            Tensor c;
            try (Scope next = Scope.open()) {
                c = Tensor.zeros(5);
            }
            assertThat(c.isReleased()).isTrue();
            assertThat(tracker.currentTotal()).isZero();
        }
    }

    @Test
    void tensorsCreatedAfterAnOutOfOrderCloseGoToTheRemainingScope() {
        Scope keepOpen = Scope.open();
        try {
            Scope outer = Scope.open();
            Scope.open(); // never closed by its owner
            outer.close();
            Tensor t = Tensor.zeros(3); // belongs to keepOpen now, not to a closed scope
            assertThat(t.isReleased()).isFalse();
            keepOpen.close();
            assertThat(t.isReleased()).isTrue();
        } finally {
            keepOpen.close();
        }
    }

    @Test
    void closingOnAnotherThreadThrowsAndLeavesTheScopeUsable() throws Exception {
        Scope s = Scope.open();
        Tensor t = Tensor.zeros(4);
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Thread other = new Thread(() -> {
            try {
                s.close();
            } catch (Throwable e) {
                failure.set(e);
            }
        });
        other.start();
        other.join();
        assertThat(failure.get()).isInstanceOf(IllegalStateException.class).hasMessageContaining("thread that opened it");
        assertThat(t.isReleased()).isFalse();
        s.close();
        assertThat(t.isReleased()).isTrue();
    }

    @Test
    void aFailingReleaseDoesNotStopTheRest() {
        MemoryTracker tracker = new MemoryTracker();
        try (var installed = MemoryTracker.install(tracker)) {
            Scope s = Scope.open();
            Tensor a = Tensor.zeros(8);
            Tensor view = Tensor.view(a, 0, 8);
            Tensor b = Tensor.zeros(8);
            a.release();
            // a's storage is still held by the view; releasing the view's storage twice must fail loudly ...
            view.storage().release("test");
            assertThatThrownBy(s::close).isInstanceOf(IllegalStateException.class);
            // ... and b was still released.
            assertThat(b.isReleased()).isTrue();
            assertThat(tracker.current(Category.TEMPORARY)).isZero();
        }
    }
}
