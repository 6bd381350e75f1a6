package dev.memwall.sharding.shm;

/**
 * Ticks a counter in this rank's segment every interval on its own daemon thread, so peers waiting in a collective
 * can tell a rank that is merely busy (ticking) from one that is frozen or gone (not ticking). It runs whatever the
 * rank is doing, computing included.
 */
final class Heartbeat implements AutoCloseable {
    private final Thread thread;
    private volatile boolean stopped;

    Heartbeat(Segment own, long intervalMillis, int rank) {
        thread = new Thread(() -> {
            long tick = 0;
            while (!stopped) {
                own.beat(++tick);
                try {
                    Thread.sleep(intervalMillis);
                } catch (InterruptedException e) {
                    return;
                }
            }
        }, "memwall-heartbeat-rank" + rank);
        thread.setDaemon(true);
        thread.start();
    }

    /** Stops ticking (and, for tests, makes this rank look frozen to its peers). */
    @Override
    public void close() {
        stopped = true;
        thread.interrupt();
        try {
            thread.join(5000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Whether the thread has ended, so it will never write to the segment again (which may then be unmapped). */
    boolean ended() {
        return !thread.isAlive();
    }
}
