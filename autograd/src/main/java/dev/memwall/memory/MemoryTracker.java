package dev.memwall.memory;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Counts every buffer the framework allocates, from allocation to release, by {@link Category}.
 *
 * <p>Counting is exact and deterministic: the tensor layer reports each allocation, each release and each change
 * of category (a temporary becoming an activation when a node saves it). Nothing depends on the garbage collector,
 * so the same model and input give the same figures on every run.
 *
 * <p><b>One tracker per process.</b> {@link #current()} is the same on every thread: kernels run on worker threads
 * ({@code kernels.Parallel}) and whatever they allocate belongs to the same step, and a sharded run is one process per
 * rank, so per process is per rank. (What builds a graph is per thread instead: {@code Scope}, {@code GradMode} and
 * saved-tensor hooks describe the work of the thread that opened them.) Tests and tools install their own tracker with
 * {@link #install}; installs nest, on one thread at a time: installing while another thread's install is open
 * throws, because the two would silently count each other's allocations. Each storage reports its release to the
 * tracker that counted its allocation, so a tracker installed mid-run never sees a release it did not count.
 *
 * <p>Counting methods are synchronized: the lock is uncontended in practice (allocation happens on the calling
 * thread; kernel threads rarely allocate) and costs a few nanoseconds next to allocating the array. A call that
 * would make a figure negative (a release of bytes never counted) throws before changing anything.
 */
public final class MemoryTracker {
    private static final int N = Category.values().length;
    private static volatile MemoryTracker current = new MemoryTracker();
    /** Open installs, innermost first; guarded by the class lock. */
    private static final ArrayDeque<Install> INSTALLS = new ArrayDeque<>();

    private final long[] bytes = new long[N];
    private final long[] peak = new long[N];
    private long total;
    private long totalPeak;
    private final long[] peakExcluding = new long[N];
    private long allocations;
    private long releases;
    private long allocatedBytes;
    private Phase phase = Phase.SETUP;
    private boolean recording;
    private int maxEvents = 1_000_000;
    private final List<MemoryEvent> events = new ArrayList<>();
    private long seq;

    public static MemoryTracker current() {
        return current;
    }

    /**
     * Makes {@code tracker} current for the whole process until the returned handle is closed, which restores the
     * tracker that was current before. Installs nest; closing an outer handle first also closes the ones installed
     * inside it (their own close then does nothing), as closing an outer {@code Scope} does.
     *
     * @throws IllegalStateException when a tracker installed by another thread is still installed
     */
    public static Installed install(MemoryTracker tracker) {
        Objects.requireNonNull(tracker, "install: tracker");
        synchronized (MemoryTracker.class) {
            Thread me = Thread.currentThread();
            for (Install open : INSTALLS) {
                if (open.thread != me) {
                    throw new IllegalStateException("install: a tracker installed by thread '" + open.thread.getName()
                            + "' is still installed; one tracker counts the whole process (kernel threads included), so "
                            + "installs nest on one thread at a time");
                }
            }
            Install i = new Install(current, me);
            INSTALLS.push(i);
            current = tracker;
            return i;
        }
    }

    /** Handle returned by {@link #install}; closing it restores the tracker that was current before. */
    public interface Installed extends AutoCloseable {
        @Override
        void close();
    }

    private static final class Install implements Installed {
        private final MemoryTracker previous;
        private final Thread thread;
        private boolean closed;

        Install(MemoryTracker previous, Thread thread) {
            this.previous = previous;
            this.thread = thread;
        }

        @Override
        public void close() {
            synchronized (MemoryTracker.class) {
                if (closed) return;
                Install top;
                do {
                    top = INSTALLS.pop();
                    top.closed = true;
                } while (top != this);
                current = previous;
            }
        }
    }

    public synchronized void allocated(Category c, long n, String op) {
        requireNonNegative(n, op);
        allocations++;
        allocatedBytes += n;
        add(c, n, op);
    }

    public synchronized void released(Category c, long n, String op) {
        requireNonNegative(n, op);
        requireCounted(c, n, op);
        releases++;
        add(c, -n, op);
    }

    /** Moves {@code n} bytes from one category to another without an allocation (e.g. TEMPORARY to ACTIVATION). */
    public synchronized void moved(Category from, Category to, long n, String op) {
        requireNonNegative(n, op);
        if (from == to) return;
        requireCounted(from, n, op);
        add(from, -n, op);
        add(to, n, op);
    }

    private static void requireNonNegative(long n, String op) {
        if (n < 0) throw new IllegalArgumentException("memory accounting: negative byte count " + n + " (" + op + ")");
    }

    /** Checked before any counter changes, so a bad call leaves the figures as they were. */
    private void requireCounted(Category c, long n, String op) {
        long have = bytes[c.ordinal()];
        if (n > have) {
            throw new IllegalStateException("memory accounting would go negative for " + c + ": " + op + " gives back "
                    + n + " bytes, " + have + " are counted");
        }
    }

    private void add(Category c, long n, String op) {
        int i = c.ordinal();
        bytes[i] += n;
        total += n;
        if (bytes[i] > peak[i]) peak[i] = bytes[i];
        if (total > totalPeak) totalPeak = total;
        for (int k = 0; k < N; k++) if (total - bytes[k] > peakExcluding[k]) peakExcluding[k] = total - bytes[k];
        if (recording && events.size() < maxEvents) events.add(new MemoryEvent(seq++, op, phase, c, n, bytes.clone()));
    }

    public synchronized long current(Category c) {
        return bytes[c.ordinal()];
    }

    public synchronized long peak(Category c) {
        return peak[c.ordinal()];
    }

    public synchronized long currentTotal() {
        return total;
    }

    public synchronized long peakTotal() {
        return totalPeak;
    }

    /**
     * The peak of the total without category {@code c}, which is not the total peak minus {@code c}'s peak: e.g. the
     * most that everything but activations ever took, whenever that was. Planners bound a total by a category's peak
     * plus this.
     */
    public synchronized long peakExcluding(Category c) {
        return peakExcluding[c.ordinal()];
    }

    public synchronized long allocationCount() {
        return allocations;
    }

    public synchronized long releaseCount() {
        return releases;
    }

    public synchronized long allocatedBytes() {
        return allocatedBytes;
    }

    public synchronized Map<Category, Long> currentByCategory() {
        Map<Category, Long> m = new EnumMap<>(Category.class);
        for (Category c : Category.values()) m.put(c, bytes[c.ordinal()]);
        return m;
    }

    public synchronized Map<Category, Long> peakByCategory() {
        Map<Category, Long> m = new EnumMap<>(Category.class);
        for (Category c : Category.values()) m.put(c, peak[c.ordinal()]);
        return m;
    }

    /** Starts a new peak window: peaks are set to the current figures (e.g. at the start of each step). */
    public synchronized void resetPeaks() {
        System.arraycopy(bytes, 0, peak, 0, N);
        totalPeak = total;
        for (int k = 0; k < N; k++) peakExcluding[k] = total - bytes[k];
    }

    public synchronized Phase phase() {
        return phase;
    }

    /** Sets the phase and returns the previous one, so callers can restore it. */
    public synchronized Phase phase(Phase p) {
        Phase old = phase;
        phase = p;
        return old;
    }

    /** Starts or stops recording the event timeline; starting clears any previous timeline. */
    public synchronized void record(boolean on) {
        if (on && !recording) {
            events.clear();
            seq = 0;
        }
        recording = on;
    }

    public synchronized void maxEvents(int n) {
        maxEvents = n;
    }

    public synchronized List<MemoryEvent> events() {
        return Collections.unmodifiableList(new ArrayList<>(events));
    }

    @Override
    public synchronized String toString() {
        StringBuilder sb = new StringBuilder("MemoryTracker{");
        for (Category c : Category.values()) {
            sb.append(c).append('=').append(bytes[c.ordinal()]).append("/peak ").append(peak[c.ordinal()]).append(", ");
        }
        return sb.append("total=").append(total).append("/peak ").append(totalPeak).append('}').toString();
    }
}
