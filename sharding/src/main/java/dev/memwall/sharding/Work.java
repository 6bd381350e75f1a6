package dev.memwall.sharding;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;

/**
 * A collective in flight, returned by the {@code ...Async} calls of {@link ProcessGroup} (PyTorch's {@code Work}).
 * The buffers handed to the call belong to the collective until {@link #await()} returns: reading or writing them
 * earlier races with the communication thread.
 */
public interface Work {

    /**
     * Blocks until the collective has finished on this rank and its results are in the caller's buffers. Rethrows
     * the collective's failure (a {@link CommException}, e.g. {@link PeerFailedException}). Never waits unboundedly:
     * every wait inside a collective has a timeout.
     */
    void await();

    /** Whether the collective has finished (successfully or not); never blocks. */
    boolean isDone();

    /** A collective that finished when it was issued (world size 1). */
    static Work done() {
        return Done.INSTANCE;
    }

    /** Wraps a future completed by the communication thread. */
    static Work of(CompletableFuture<Void> future) {
        return new Work() {
            @Override
            public void await() {
                try {
                    future.join();
                } catch (CompletionException e) {
                    if (e.getCause() instanceof RuntimeException r) throw r;
                    if (e.getCause() instanceof Error err) throw err;
                    throw e;
                }
            }

            @Override
            public boolean isDone() {
                return future.isDone();
            }
        };
    }

    /** The finished collective of world size 1. */
    enum Done implements Work {
        INSTANCE;

        @Override
        public void await() {
        }

        @Override
        public boolean isDone() {
            return true;
        }
    }
}
