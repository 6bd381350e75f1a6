package dev.memwall.kernels;

import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Splits a loop over the cores when the loop is big enough to pay for the hand-off (a few microseconds).
 * Small loops run on the caller. The caller always takes the first chunk itself, and {@link #range} returns (or
 * throws the first chunk's failure) only once no chunk is running any more.
 */
public final class Parallel {
    /** Below this many element-operations a loop stays on one thread. */
    public static final long GRAIN = 1 << 16;
    private static final AtomicInteger COUNTER = new AtomicInteger();
    /** Whether this thread is running the caller's chunk of a range: a range started inside one runs inline. */
    private static final ThreadLocal<boolean[]> IN_CHUNK = ThreadLocal.withInitial(() -> new boolean[1]);
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
        // A range inside a chunk (a GEMM inside one attention head's task) runs inline: the cores are busy with the
        // outer range already, and a chunk handed to the pool from the caller's own chunk would queue behind the
        // workers' whole outer chunks, leaving the caller parked meanwhile.
        boolean[] inChunk = IN_CHUNK.get();
        if (chunks <= 1 || POOL == null || inChunk[0] || Thread.currentThread().getName().startsWith("memwall-kernel-")) {
            body.run(0, n);
            return;
        }
        // Chunks write into arrays that go back to the ArrayCache once the op is done, so range() never returns or
        // throws while a chunk is still running: when one chunk fails, the others that have not started are skipped,
        // those that have are waited for, and the first failure is thrown with the others suppressed.
        AtomicBoolean failed = new AtomicBoolean();
        Future<?>[] futures = new Future<?>[chunks - 1];
        for (int c = 1; c < chunks; c++) {
            int from = (int) ((long) n * c / chunks), to = (int) ((long) n * (c + 1) / chunks);
            futures[c - 1] = POOL.submit(() -> {
                if (failed.get()) return;
                try {
                    body.run(from, to);
                } catch (Throwable e) {
                    failed.set(true);
                    throw e;
                }
            });
        }
        Throwable first = null;
        inChunk[0] = true;
        try {
            body.run(0, (int) ((long) n / chunks));
        } catch (Throwable e) {
            failed.set(true);
            first = e;
        } finally {
            inChunk[0] = false;
        }
        boolean interrupted = false;
        for (Future<?> f : futures) {
            while (true) {
                try {
                    f.get();
                    break;
                } catch (InterruptedException e) {
                    interrupted = true; // keep waiting: the chunk may still be writing; re-assert the flag below
                } catch (ExecutionException e) {
                    Throwable cause = e.getCause();
                    if (first == null) first = cause;
                    else if (first != cause) first.addSuppressed(cause);
                    break;
                }
            }
        }
        if (interrupted) Thread.currentThread().interrupt();
        if (first instanceof RuntimeException re) throw re;
        if (first instanceof Error err) throw err;
        if (first != null) throw new IllegalStateException(first);
    }
}
