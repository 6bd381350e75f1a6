package dev.memwall.sharding;

import dev.memwall.memory.Category;
import dev.memwall.memory.MemoryTracker;
import dev.memwall.memory.Phase;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;

/**
 * A multi-rank group whose collectives run, in the order issued, on one communication thread per group. This class
 * checks arguments on the caller's thread, queues the call, and on the communication thread counts its bytes, lends
 * it scratch arrays (counted as COMMUNICATION while it runs) and turns the first failure into a broken group: every
 * later call fails at once with a {@link CommException} that names the first failure, rather than waiting on peers
 * that have given up. A backend implements the {@code run...} methods, which run on the communication thread.
 */
public abstract class AsyncProcessGroup implements ProcessGroup {
    private static final long CLOSE_WAIT_SECONDS = 30;

    private final int rank;
    private final int worldSize;
    private final ExecutorService comm;
    private final CommCounters counters = new CommCounters();
    /** Scratch arrays kept between calls (like ArrayCache, uncounted while idle); communication thread only. */
    private final float[][] scratch = new float[2][];
    private short[] scratch16;
    private volatile CommException broken;
    private volatile boolean closed;

    protected AsyncProcessGroup(int rank, int worldSize) {
        this.rank = rank;
        this.worldSize = worldSize;
        this.comm = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "memwall-comm-rank" + rank);
            t.setDaemon(true);
            return t;
        });
    }

    /** One collective on the communication thread: what it copied and the scratch it borrowed. */
    protected final class Call {
        final String name;
        private final MemoryTracker tracker;
        private long written;
        private long read;
        private long scratchBytes;

        Call(String name, MemoryTracker tracker) {
            this.name = name;
            this.tracker = tracker;
        }

        public String name() {
            return name;
        }

        /** Counts {@code floats} copied into shared memory by this rank. */
        public void wrote(long floats) {
            written += 4 * floats;
        }

        /** Counts {@code floats} copied out of shared memory by this rank. */
        public void read(long floats) {
            read += 4 * floats;
        }

        /** Scratch array {@code which} (0 or 1) of at least {@code floats}, counted as COMMUNICATION until the call ends. */
        public float[] scratch(int which, int floats) {
            float[] a = scratch[which];
            if (a == null || a.length < floats) scratch[which] = a = new float[floats];
            long bytes = 4L * a.length;
            tracker.allocated(Category.COMMUNICATION, bytes, name + " scratch");
            scratchBytes += bytes;
            return a;
        }

        /** Counts {@code shorts} 16-bit elements copied into shared memory by this rank. */
        public void wrote16(long shorts) {
            written += 2 * shorts;
        }

        /** Counts {@code shorts} 16-bit elements copied out of shared memory by this rank. */
        public void read16(long shorts) {
            read += 2 * shorts;
        }

        /** A 16-bit scratch array of at least {@code shorts}, counted as COMMUNICATION until the call ends. */
        public short[] scratch16(int shorts) {
            short[] a = scratch16;
            if (a == null || a.length < shorts) scratch16 = a = new short[shorts];
            long bytes = 2L * a.length;
            tracker.allocated(Category.COMMUNICATION, bytes, name + " scratch");
            scratchBytes += bytes;
            return a;
        }

        /** Counts {@code bytes} of a backend's own scratch (e.g. native memory) as COMMUNICATION until the call ends. */
        public void borrowed(long bytes) {
            tracker.allocated(Category.COMMUNICATION, bytes, name + " scratch");
            scratchBytes += bytes;
        }

        void releaseScratch() {
            if (scratchBytes > 0) tracker.released(Category.COMMUNICATION, scratchBytes, name + " scratch");
            scratchBytes = 0;
        }
    }

    @Override
    public final int rank() {
        return rank;
    }

    @Override
    public final int worldSize() {
        return worldSize;
    }

    @Override
    public final CommCounters counters() {
        return counters;
    }

    @Override
    public final Work allReduceAsync(float[] buf, int off, int len) {
        Checks.range("allReduce", "buf", buf, off, len);
        return submit("allReduce", RingVolumes.allReduce(len, worldSize), c -> runAllReduce(buf, off, len, c));
    }

    @Override
    public final Work allReduceMaxAsync(float[] buf, int off, int len) {
        Checks.range("allReduceMax", "buf", buf, off, len);
        return submit("allReduceMax", RingVolumes.allReduce(len, worldSize), c -> runAllReduceMax(buf, off, len, c));
    }

    @Override
    public final Work reduceScatterAsync(float[] in, int inOff, float[] out, int outOff, int shard) {
        Checks.shard("reduceScatter", shard, worldSize);
        Checks.range("reduceScatter", "in", in, inOff, (long) worldSize * shard);
        Checks.range("reduceScatter", "out", out, outOff, shard);
        Checks.inPlaceOrDisjoint("reduceScatter", in, inOff, out, outOff, shard, worldSize, rank);
        return submit("reduceScatter", RingVolumes.reduceScatter(shard, worldSize),
                c -> runReduceScatter(in, inOff, out, outOff, shard, c));
    }

    @Override
    public final Work allGatherAsync(float[] in, int inOff, float[] out, int outOff, int shard) {
        Checks.shard("allGather", shard, worldSize);
        Checks.range("allGather", "in", in, inOff, shard);
        Checks.range("allGather", "out", out, outOff, (long) worldSize * shard);
        Checks.inPlaceOrDisjoint("allGather", out, outOff, in, inOff, shard, worldSize, rank);
        return submit("allGather", RingVolumes.allGather(shard, worldSize),
                c -> runAllGather(in, inOff, out, outOff, shard, c));
    }

    @Override
    public final Work allGather16Async(short[] in, int inOff, short[] out, int outOff, int shard) {
        Checks.shard("allGather16", shard, worldSize);
        Checks.range("allGather16", "in", in, inOff, shard);
        Checks.range("allGather16", "out", out, outOff, (long) worldSize * shard);
        Checks.inPlaceOrDisjoint("allGather16", out, outOff, in, inOff, shard, worldSize, rank);
        return submit("allGather16", RingVolumes.shards16(shard, worldSize),
                c -> runAllGather16(in, inOff, out, outOff, shard, c));
    }

    @Override
    public final Work reduceScatter16Async(short[] in, int inOff, short[] out, int outOff, int shard, HalfFormat format) {
        Checks.format("reduceScatter16", format);
        Checks.shard("reduceScatter16", shard, worldSize);
        Checks.range("reduceScatter16", "in", in, inOff, (long) worldSize * shard);
        Checks.range("reduceScatter16", "out", out, outOff, shard);
        Checks.inPlaceOrDisjoint("reduceScatter16", in, inOff, out, outOff, shard, worldSize, rank);
        return submit("reduceScatter16", RingVolumes.shards16(shard, worldSize),
                c -> runReduceScatter16(in, inOff, out, outOff, shard, format, c));
    }

    @Override
    public final Work allReduce16Async(short[] buf, int off, int len, HalfFormat format) {
        Checks.format("allReduce16", format);
        Checks.range("allReduce16", "buf", buf, off, len);
        return submit("allReduce16", RingVolumes.allReduce16(len, worldSize), c -> runAllReduce16(buf, off, len, format, c));
    }

    @Override
    public final Work broadcastAsync(float[] buf, int off, int len, int root) {
        Checks.range("broadcast", "buf", buf, off, len);
        Checks.root("broadcast", root, worldSize);
        return submit("broadcast", RingVolumes.broadcast(len, worldSize, rank, root),
                c -> runBroadcast(buf, off, len, root, c));
    }

    @Override
    public final Work barrierAsync() {
        return submit("barrier", RingVolumes.Volume.NONE, this::runBarrier);
    }

    protected abstract void runAllReduce(float[] buf, int off, int len, Call call);

    /** Element-wise maximum over ranks, NaN winning; every rank gets the same bits. */
    protected abstract void runAllReduceMax(float[] buf, int off, int len, Call call);

    protected abstract void runReduceScatter(float[] in, int inOff, float[] out, int outOff, int shard, Call call);

    protected abstract void runAllGather(float[] in, int inOff, float[] out, int outOff, int shard, Call call);

    protected abstract void runAllGather16(short[] in, int inOff, short[] out, int outOff, int shard, Call call);

    /** Rank r's shard of the sum: every rank's piece decoded, added in FP32 in rank order, encoded once. */
    protected abstract void runReduceScatter16(short[] in, int inOff, short[] out, int outOff, int shard,
                                               HalfFormat format, Call call);

    protected abstract void runAllReduce16(short[] buf, int off, int len, HalfFormat format, Call call);

    protected abstract void runBroadcast(float[] buf, int off, int len, int root, Call call);

    protected abstract void runBarrier(Call call);

    /**
     * Releases the transport after the communication thread has ended ({@code threadStopped}) or could not be
     * stopped, in which case it may still touch the transport's memory.
     */
    protected abstract void closeTransport(boolean threadStopped);

    private interface Body {
        void run(Call call);
    }

    private Work submit(String name, RingVolumes.Volume volume, Body body) {
        if (closed) throw new IllegalStateException(name + ": the process group of rank " + rank + " is closed");
        MemoryTracker tracker = MemoryTracker.current();
        Phase phase = tracker.phase();
        CompletableFuture<Void> done = new CompletableFuture<>();
        try {
            comm.execute(() -> run(name, volume, body, tracker, phase, done));
        } catch (RejectedExecutionException e) {
            throw new IllegalStateException(name + ": the process group of rank " + rank + " is closed", e);
        }
        return Work.of(done);
    }

    private void run(String name, RingVolumes.Volume volume, Body body, MemoryTracker tracker, Phase phase,
                     CompletableFuture<Void> done) {
        CommException earlier = broken;
        if (earlier != null) {
            done.completeExceptionally(new CommException(name + " on rank " + rank
                    + " not run: the group is broken by an earlier failure: " + earlier.getMessage(), earlier));
            return;
        }
        Call call = new Call(name, tracker);
        long start = System.nanoTime();
        try {
            body.run(call);
            call.releaseScratch();
            counters.record(phase, new CommTotals(1, volume.sent(), volume.received(), call.written, call.read,
                    System.nanoTime() - start));
            done.complete(null);
        } catch (CommException e) {
            broken = e;
            call.releaseScratch();
            done.completeExceptionally(e);
        } catch (RuntimeException | Error e) {
            broken = new CommException(name + " on rank " + rank + " failed: " + e, e);
            call.releaseScratch();
            done.completeExceptionally(e);
        }
    }

    @Override
    public final void close() {
        if (closed) return;
        closed = true;
        comm.shutdown();
        boolean stopped = false;
        try {
            stopped = comm.awaitTermination(CLOSE_WAIT_SECONDS, TimeUnit.SECONDS);
            if (!stopped) {
                comm.shutdownNow();
                stopped = comm.awaitTermination(5, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            comm.shutdownNow();
            Thread.currentThread().interrupt();
        }
        closeTransport(stopped);
    }
}
