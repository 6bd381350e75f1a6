package dev.memwall.kernels;

import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Splits a loop over the cores when the loop is big enough to pay for the hand-off (a few microseconds).
 * Small loops run on the caller. The caller always takes the first chunk itself.
 */
public final class Parallel {
    /** Below this many element-operations a loop stays on one thread. */
    public static final long GRAIN = 1 << 16;
    private static final AtomicInteger COUNTER = new AtomicInteger();
    private static final int THREADS = Integer.getInteger("memwall.threads", Runtime.getRuntime().availableProcessors());
    private static final ExecutorService POOL = THREADS <= 1 ? null : Executors.newFixedThreadPool(THREADS - 1, r -> {
        Thread t = new Thread(r, "memwall-kernel-" + COUNTER.incrementAndGet());
        t.setDaemon(true);
        return t;
    });

    private Parallel() {
    }

    /** Body of a loop over [from, to). */
    @FunctionalInterface
    public interface Range {
        void run(int from, int to);
    }

    public static int threads() {
        return THREADS;
    }

    /** Runs {@code body} over [0, n), split into up to one chunk per core when {@code n * costPerItem} is large. */
    public static void range(int n, long costPerItem, Range body) {
        long work = (long) n * Math.max(1, costPerItem);
        int chunks = (int) Math.min(THREADS, Math.min(n, work / GRAIN));
        if (chunks <= 1 || POOL == null || Thread.currentThread().getName().startsWith("memwall-kernel-")) {
            body.run(0, n);
            return;
        }
        Future<?>[] futures = new Future<?>[chunks - 1];
        for (int c = 1; c < chunks; c++) {
            int from = (int) ((long) n * c / chunks), to = (int) ((long) n * (c + 1) / chunks);
            futures[c - 1] = POOL.submit(() -> body.run(from, to));
        }
        body.run(0, (int) ((long) n / chunks));
        for (Future<?> f : futures) {
            try {
                f.get();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while waiting for a kernel", e);
            } catch (java.util.concurrent.ExecutionException e) {
                Throwable cause = e.getCause();
                if (cause instanceof RuntimeException re) throw re;
                if (cause instanceof Error err) throw err;
                throw new IllegalStateException(cause);
            }
        }
    }
}
