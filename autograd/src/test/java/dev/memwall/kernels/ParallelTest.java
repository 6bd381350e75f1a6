package dev.memwall.kernels;

import org.junit.jupiter.api.Test;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assumptions.assumeThat;

/** A failing chunk must not let range() return while other chunks still write into the op's arrays. */
class ParallelTest {
    /** Items per chunk large enough that range() splits into one chunk per thread. */
    private static final int N = 64;

    @Test
    void whenTheCallersChunkThrowsTheOtherChunksHaveFinished() throws Exception {
        assumeThat(Parallel.threads()).as("needs a kernel pool").isGreaterThan(1);
        Thread caller = Thread.currentThread();
        CountDownLatch othersStarted = new CountDownLatch(Parallel.threads() - 1);
        CountDownLatch callerChecked = new CountDownLatch(1);
        AtomicInteger running = new AtomicInteger();
        AtomicBoolean runningWhenRangeThrew = new AtomicBoolean();
        AtomicBoolean callerThrew = new AtomicBoolean();
        assertThatThrownBy(() -> {
            try {
                Parallel.range(N, Parallel.GRAIN, (from, to) -> {
                    if (from == 0) { // the caller's chunk fails while the others are still at work
                        await(othersStarted);
                        callerThrew.set(true);
                        throw new IllegalArgumentException("chunk 0 failed");
                    }
                    running.incrementAndGet();
                    othersStarted.countDown();
                    // Keep "writing" until the caller has looked, or until its chunk has failed and it is parked waiting
                    // for this one (which is what a correct range() does): no clock decides the outcome.
                    while (!awaitBriefly(callerChecked) && !(callerThrew.get() && parked(caller))) Thread.onSpinWait();
                    running.decrementAndGet();
                });
            } finally {
                runningWhenRangeThrew.set(running.get() > 0);
                callerChecked.countDown();
            }
        }).isInstanceOf(IllegalArgumentException.class).hasMessage("chunk 0 failed");
        assertThat(runningWhenRangeThrew).as("a chunk was still running when range() threw").isFalse();
    }

    @Test
    void aRangeInsideTheCallersChunkRunsInlineOnTheCaller() {
        assumeThat(Parallel.threads()).as("needs a kernel pool").isGreaterThan(1);
        Thread caller = Thread.currentThread();
        java.util.Set<Thread> inner = java.util.concurrent.ConcurrentHashMap.newKeySet();
        Parallel.range(N, Parallel.GRAIN, (from, to) -> {
            if (from == 0) Parallel.range(N, Parallel.GRAIN, (f, t) -> inner.add(Thread.currentThread()));
        });
        assertThat(inner).as("threads that ran the nested range").containsExactly(caller);
        // and a later, outer range splits again
        java.util.Set<Thread> outer = java.util.concurrent.ConcurrentHashMap.newKeySet();
        Parallel.range(N, Parallel.GRAIN, (from, to) -> outer.add(Thread.currentThread()));
        assertThat(outer).contains(caller).hasSizeGreaterThan(1);
    }

    @Test
    void failuresOfSeveralChunksAreAllReported() {
        assumeThat(Parallel.threads()).isGreaterThan(1);
        CountDownLatch allStarted = new CountDownLatch(Parallel.threads());
        Throwable thrown = org.assertj.core.api.Assertions.catchThrowable(() -> Parallel.range(N, Parallel.GRAIN, (from, to) -> {
            allStarted.countDown();
            await(allStarted); // every chunk runs, so every chunk fails
            throw new IllegalStateException("chunk at " + from);
        }));
        assertThat(thrown).isInstanceOf(IllegalStateException.class);
        assertThat(1 + thrown.getSuppressed().length).isEqualTo(Parallel.threads());
    }

    @Test
    void everyItemIsCoveredOnce() {
        int[] hits = new int[10_000];
        Parallel.range(hits.length, Parallel.GRAIN, (from, to) -> {
            for (int i = from; i < to; i++) hits[i]++;
        });
        for (int h : hits) assertThat(h).isEqualTo(1);
    }

    private static boolean parked(Thread t) {
        Thread.State s = t.getState();
        return s == Thread.State.WAITING || s == Thread.State.TIMED_WAITING;
    }

    private static boolean awaitBriefly(CountDownLatch latch) {
        try {
            return latch.await(1, TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            throw new IllegalStateException(e);
        }
    }

    private static void await(CountDownLatch latch) {
        try {
            latch.await();
        } catch (InterruptedException e) {
            throw new IllegalStateException(e);
        }
    }
}
