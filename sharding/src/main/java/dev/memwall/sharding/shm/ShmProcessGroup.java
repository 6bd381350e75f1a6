package dev.memwall.sharding.shm;

import dev.memwall.sharding.AsyncProcessGroup;
import dev.memwall.sharding.CommException;
import dev.memwall.sharding.HalfFormat;
import dev.memwall.sharding.JoinRefusedException;
import dev.memwall.sharding.LaunchEnvironment;

import java.io.IOException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;

/**
 * The shared-memory backend: the ranks of one machine exchange data through memory-mapped segment files in the job's
 * run directory, one per rank, written only by their owner.
 *
 * <p><b>Data flow.</b> Every collective runs in rounds of at most one slot ({@link ShmOptions#slotFloats}); each round
 * is: write this rank's part into its IN region, barrier, read what is needed from every rank's segment (and, for a
 * reduction, sum this rank's share of the round in rank order), barrier. All-reduce splits each round into N parts;
 * rank r sums part r over all ranks in rank order into its OUT region and, after the second barrier, every rank reads
 * every part from its owner's OUT. Reduce-scatter writes the round's piece of every shard, and rank r sums the pieces
 * of its own shard straight into its output. All-gather and broadcast just read their peers' IN. The second barrier of
 * a round is what lets the next round (or collective) overwrite IN and OUT: every reader has finished by then.
 *
 * <p>The first round of each collective also checks that every rank called the same collective with the same length
 * and root, and refuses with a {@link CommException} naming both calls otherwise.
 */
public final class ShmProcessGroup extends AsyncProcessGroup {
    private static final String[] KINDS = {"?", "allReduce", "reduceScatter", "allGather", "broadcast", "barrier",
            "allGather16", "reduceScatter16", "allReduce16", "allReduceMax"};
    private static final int ALL_REDUCE = 1;
    private static final int REDUCE_SCATTER = 2;
    private static final int ALL_GATHER = 3;
    private static final int BROADCAST = 4;
    private static final int BARRIER = 5;
    private static final int ALL_GATHER16 = 6;
    private static final int REDUCE_SCATTER16 = 7;
    private static final int ALL_REDUCE16 = 8;
    private static final int ALL_REDUCE_MAX = 9;

    private final String jobId;
    private final Segment own;
    private final Segment[] segments;
    private final Heartbeat heartbeat;
    private final Thread removeOnExit;
    private final Rendezvous rendezvous;
    private final int slot;
    private long collectives;

    private ShmProcessGroup(LaunchEnvironment env, Segment[] segments, Heartbeat heartbeat, Thread removeOnExit,
                            ShmOptions options) {
        super(env.rank(), env.worldSize());
        this.jobId = env.jobId();
        this.segments = segments;
        this.own = segments[env.rank()];
        this.heartbeat = heartbeat;
        this.removeOnExit = removeOnExit;
        this.slot = options.slotFloats();
        this.rendezvous = new Rendezvous(segments, env.rank(), options);
    }

    /**
     * Joins the job: checks the run directory (owner-only, this user's, no other job's segments), creates this rank's
     * segment (0600), waits (bounded by the join timeout) for every other rank's segment, checks each carries the
     * job's token, world size and slot size, and meets the others at a first barrier.
     *
     * @throws JoinRefusedException when the directory or a peer's segment is wrong, or the peers do not join in time
     */
    public static ShmProcessGroup join(LaunchEnvironment env, ShmOptions options) {
        if (options.slotFloats() < env.worldSize()) {
            throw new JoinRefusedException("a slot of " + options.slotFloats() + " floats cannot hold a piece for each of "
                    + env.worldSize() + " ranks; raise MEMWALL_SHM_SLOT_MB");
        }
        SegmentDirectory dir = new SegmentDirectory(env.runDir(), env.jobId());
        dir.check();
        dir.refuseForeignSegments();
        byte[] token = HexFormat.of().parseHex(env.jobId());
        Path mine = dir.segment(env.rank());
        Segment own;
        try {
            own = Segment.create(mine, env.worldSize(), env.rank(), options.slotFloats(), token);
        } catch (FileAlreadyExistsException e) {
            throw new JoinRefusedException("rank " + env.rank() + " of job " + env.jobId() + " has already joined ("
                    + mine + " exists): two workers were given the same RANK, or this process joined twice");
        } catch (IOException e) {
            throw new JoinRefusedException("cannot create segment " + mine + ": " + e, e);
        }
        Thread removeOnExit = new Thread(() -> delete(mine), "memwall-shm-cleanup-rank" + env.rank());
        Runtime.getRuntime().addShutdownHook(removeOnExit);
        Heartbeat heartbeat = new Heartbeat(own, options.heartbeatMillis(), env.rank());
        Segment[] segments = new Segment[env.worldSize()];
        segments[env.rank()] = own;
        ShmProcessGroup group = null;
        try {
            awaitPeers(dir, env, options, segments, token);
            group = new ShmProcessGroup(env, segments, heartbeat, removeOnExit, options);
            group.barrier();
            group.counters().reset(); // the joining barrier is not the caller's traffic
            return group;
        } catch (RuntimeException e) {
            if (group != null) {
                group.close();
            } else {
                heartbeat.close();
                own.markClosed();
                delete(mine);
                removeHook(removeOnExit);
            }
            throw e;
        }
    }

    private static void awaitPeers(SegmentDirectory dir, LaunchEnvironment env, ShmOptions options, Segment[] segments,
                                   byte[] token) {
        long deadline = System.nanoTime() + options.joinTimeoutMillis() * 1_000_000L;
        while (true) {
            dir.refuseForeignSegments();
            List<Integer> missing = new ArrayList<>();
            for (int j = 0; j < segments.length; j++) {
                if (segments[j] != null) continue;
                Segment s;
                try {
                    s = Segment.openIfReady(dir.segment(j));
                } catch (IOException e) {
                    s = null; // created but not yet sized, or removed again: look next time
                }
                if (s == null) {
                    missing.add(j);
                } else {
                    verify(s, j, env, options, token);
                    segments[j] = s;
                }
            }
            if (missing.isEmpty()) return;
            if (System.nanoTime() > deadline) {
                throw new JoinRefusedException("rank " + env.rank() + ": ranks " + missing + " of job " + env.jobId()
                        + " did not join within " + options.joinTimeoutMillis() / 1000.0 + " s (no segment in "
                        + env.runDir() + ")");
            }
            try {
                Thread.sleep(5);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new JoinRefusedException("rank " + env.rank() + " was interrupted while joining");
            }
        }
    }

    private static void verify(Segment s, int rank, LaunchEnvironment env, ShmOptions options, byte[] token) {
        String what = "segment " + s.file + ": ";
        if (s.magic() != Segment.MAGIC || s.version() != Segment.VERSION) {
            throw new JoinRefusedException(what + "not a memwall segment of version " + Segment.VERSION);
        }
        if (!Arrays.equals(s.token(), token)) {
            throw new JoinRefusedException(what + "job token mismatch: it carries " + HexFormat.of().formatHex(s.token())
                    + ", this process has MEMWALL_JOB_ID=" + env.jobId());
        }
        if (s.rank() != rank || s.worldSize() != env.worldSize()) {
            throw new JoinRefusedException(what + "rank " + s.rank() + " of WORLD_SIZE=" + s.worldSize()
                    + ", but this rank expects rank " + rank + " of WORLD_SIZE=" + env.worldSize());
        }
        if (s.slotFloats != options.slotFloats()) {
            throw new JoinRefusedException(what + "slot of " + s.slotFloats + " floats, this rank uses "
                    + options.slotFloats() + " (MEMWALL_SHM_SLOT_MB differs between workers)");
        }
    }

    @Override
    public String backend() {
        return "shm";
    }

    /** This rank's segment file (removed by {@link #close()}). */
    public Path segmentFile() {
        return own.file;
    }

    /** The job token this group was joined with. */
    public String jobId() {
        return jobId;
    }

    /** Stops this rank's heartbeat as if its process had frozen; for tests of failure detection. */
    void freezeHeartbeat() {
        heartbeat.close();
    }

    @Override
    protected void runAllReduce(float[] buf, int off, int len, Call call) {
        allReduceInRounds(buf, off, len, call, ALL_REDUCE, false);
    }

    /** As {@link #runAllReduce}, rank r taking the maximum of part r over every rank instead of the sum. */
    @Override
    protected void runAllReduceMax(float[] buf, int off, int len, Call call) {
        allReduceInRounds(buf, off, len, call, ALL_REDUCE_MAX, true);
    }

    /**
     * Both all-reduces, round by round through the slots: every rank writes its values, rank r reduces part r over every
     * rank in rank order (so every rank ends with the same bits) into its slot's second half, and every rank reads all
     * parts back. {@code max}: the element-wise maximum (NaN wins, as {@link Math#max} says) instead of the sum.
     */
    private void allReduceInRounds(float[] buf, int off, int len, Call call, int kind, boolean max) {
        int n = segments.length;
        int part = (Math.min(len, slot) + n - 1) / n;
        float[] acc = part == 0 ? null : call.scratch(0, part);
        float[] tmp = part == 0 ? null : call.scratch(1, part);
        enter(kind, len, -1);
        for (int k = 0, rounds = rounds(len, slot); k < rounds; k++) {
            int s = k * slot;
            int m = Math.min(slot, len - s);
            own.data.put(0, buf, off + s, m);
            call.wrote(m);
            arrive(call, k == 0);
            int lo = split(m, rank()), w = split(m, rank() + 1) - lo;
            reduceInRankOrder(lo, acc, tmp, w, max, call);
            own.data.put(slot + lo, acc == null ? new float[0] : acc, 0, w);
            call.wrote(w);
            arrive(call, false);
            for (int j = 0; j < n; j++) {
                int a = split(m, j);
                segments[j].data.get(slot + a, buf, off + s + a, split(m, j + 1) - a);
            }
            call.read(m);
        }
    }

    @Override
    protected void runReduceScatter(float[] in, int inOff, float[] out, int outOff, int shard, Call call) {
        int n = segments.length;
        int piece = slot / n;
        enter(REDUCE_SCATTER, shard, -1);
        for (int k = 0, rounds = rounds(shard, piece); k < rounds; k++) {
            int s = k * piece;
            int m = Math.min(piece, shard - s);
            for (int j = 0; j < n; j++) own.data.put(j * piece, in, inOff + j * shard + s, m);
            call.wrote((long) n * m);
            arrive(call, k == 0);
            // Straight into out, no scratch: in place, out[s, s+m) is this round's own piece of in, already copied.
            sumInRankOrderInto(rank() * piece, out, outOff + s, m, call);
            arrive(call, false);
        }
    }

    @Override
    protected void runAllGather(float[] in, int inOff, float[] out, int outOff, int shard, Call call) {
        int n = segments.length;
        enter(ALL_GATHER, shard, -1);
        for (int k = 0, rounds = rounds(shard, slot); k < rounds; k++) {
            int s = k * slot;
            int m = Math.min(slot, shard - s);
            own.data.put(0, in, inOff + s, m);
            call.wrote(m);
            arrive(call, k == 0);
            for (int j = 0; j < n; j++) segments[j].data.get(0, out, outOff + j * shard + s, m);
            call.read((long) n * m);
            arrive(call, false);
        }
    }

    // 16-bit collectives: the same rounds over the regions seen as shorts (a round holds 2·slot elements)

    @Override
    protected void runAllGather16(short[] in, int inOff, short[] out, int outOff, int shard, Call call) {
        int n = segments.length, slot16 = 2 * slot;
        enter(ALL_GATHER16, shard, -1);
        for (int k = 0, rounds = rounds(shard, slot16); k < rounds; k++) {
            int s = k * slot16;
            int m = Math.min(slot16, shard - s);
            own.shorts.put(0, in, inOff + s, m);
            call.wrote16(m);
            arrive(call, k == 0);
            for (int j = 0; j < n; j++) segments[j].shorts.get(0, out, outOff + j * shard + s, m);
            call.read16((long) n * m);
            arrive(call, false);
        }
    }

    @Override
    protected void runReduceScatter16(short[] in, int inOff, short[] out, int outOff, int shard, HalfFormat format,
                                      Call call) {
        int n = segments.length;
        int piece = 2 * slot / n;
        int part = Math.min(piece, shard);
        float[] acc = part == 0 ? null : call.scratch(0, part);
        short[] tmp = part == 0 ? null : call.scratch16(part);
        enter(REDUCE_SCATTER16, shard, format.ordinal());
        for (int k = 0, rounds = rounds(shard, piece); k < rounds; k++) {
            int s = k * piece;
            int m = Math.min(piece, shard - s);
            for (int j = 0; j < n; j++) own.shorts.put(j * piece, in, inOff + j * shard + s, m);
            call.wrote16((long) n * m);
            arrive(call, k == 0);
            if (m > 0) {
                sumInRankOrder16(rank() * piece, acc, tmp, m, format, call);
                format.encode(acc, 0, out, outOff + s, m);
            }
            arrive(call, false);
        }
    }

    @Override
    protected void runAllReduce16(short[] buf, int off, int len, HalfFormat format, Call call) {
        int n = segments.length, slot16 = 2 * slot;
        int part = (Math.min(len, slot16) + n - 1) / n;
        float[] acc = part == 0 ? null : call.scratch(0, part);
        short[] tmp = part == 0 ? null : call.scratch16(part);
        enter(ALL_REDUCE16, len, format.ordinal());
        for (int k = 0, rounds = rounds(len, slot16); k < rounds; k++) {
            int s = k * slot16;
            int m = Math.min(slot16, len - s);
            own.shorts.put(0, buf, off + s, m);
            call.wrote16(m);
            arrive(call, k == 0);
            int lo = split(m, rank()), w = split(m, rank() + 1) - lo;
            if (w > 0) {
                sumInRankOrder16(lo, acc, tmp, w, format, call);
                format.encode(acc, 0, tmp, 0, w);
                own.shorts.put(slot16 + lo, tmp, 0, w);
                call.wrote16(w);
            }
            arrive(call, false);
            for (int j = 0; j < n; j++) {
                int a = split(m, j);
                segments[j].shorts.get(slot16 + a, buf, off + s + a, split(m, j + 1) - a);
            }
            call.read16(m);
        }
    }

    /** acc[0, w) = Σ_j decode(segment j's IN16[at, at+w)), in FP32 and rank order; the caller encodes once. */
    private void sumInRankOrder16(int at, float[] acc, short[] tmp, int w, HalfFormat format, Call call) {
        segments[0].shorts.get(at, tmp, 0, w);
        format.decode(tmp, 0, acc, 0, w);
        for (int j = 1; j < segments.length; j++) {
            segments[j].shorts.get(at, tmp, 0, w);
            for (int i = 0; i < w; i++) acc[i] += format.toFloat(tmp[i]);
        }
        call.read16((long) segments.length * w);
    }

    @Override
    protected void runBroadcast(float[] buf, int off, int len, int root, Call call) {
        enter(BROADCAST, len, root);
        for (int k = 0, rounds = rounds(len, slot); k < rounds; k++) {
            int s = k * slot;
            int m = Math.min(slot, len - s);
            if (rank() == root) {
                own.data.put(0, buf, off + s, m);
                call.wrote(m);
            }
            arrive(call, k == 0);
            if (rank() != root) {
                segments[root].data.get(0, buf, off + s, m);
                call.read(m);
            }
            arrive(call, false);
        }
    }

    @Override
    protected void runBarrier(Call call) {
        enter(BARRIER, 0, -1);
        arrive(call, true);
        arrive(call, false);
    }

    /** acc[0, w) = the sum (or, with {@code max}, the maximum) over ranks of segment j's [at, at+w), in rank order. */
    private void reduceInRankOrder(int at, float[] acc, float[] tmp, int w, boolean max, Call call) {
        if (w == 0) return;
        segments[0].data.get(at, acc, 0, w);
        for (int j = 1; j < segments.length; j++) {
            segments[j].data.get(at, tmp, 0, w);
            if (max) {
                for (int i = 0; i < w; i++) acc[i] = Math.max(acc[i], tmp[i]);
            } else {
                for (int i = 0; i < w; i++) acc[i] += tmp[i];
            }
        }
        call.read((long) segments.length * w);
    }

    /**
     * out[o, o+w) = Σ_j segment j's IN[at, at+w) in rank order, as {@link #reduceInRankOrder} but borrowing no scratch, so
     * a reduce-scatter adds nothing to COMMUNICATION beyond its caller's buffers (ZeRO stage 3 bounds its peak by
     * two units' buffers): the same additions in the same order, so the same bits.
     */
    private void sumInRankOrderInto(int at, float[] out, int o, int w, Call call) {
        if (w == 0) return;
        segments[0].data.get(at, out, o, w);
        for (int j = 1; j < segments.length; j++) {
            java.nio.FloatBuffer d = segments[j].data;
            for (int i = 0; i < w; i++) out[o + i] += d.get(at + i);
        }
        call.read((long) segments.length * w);
    }

    /** Start of part j when m floats are split into N contiguous parts (sizes differ by at most one). */
    private int split(int m, int j) {
        return (int) ((long) m * j / segments.length);
    }

    /** Rounds of at most {@code per} floats for {@code count} floats; one round even for nothing (the check). */
    private static int rounds(int count, int per) {
        return Math.max(1, (count + per - 1) / per);
    }

    private void enter(int kind, long count, int root) {
        own.describe(++collectives, kind, count, root);
    }

    private void arrive(Call call, boolean checkCalls) {
        rendezvous.arrive(call.name());
        if (checkCalls) checkSameCall();
    }

    private void checkSameCall() {
        long[] mine = own.description();
        for (int j = 0; j < segments.length; j++) {
            long[] theirs = segments[j].description();
            if (!Arrays.equals(mine, theirs)) {
                throw new CommException("ranks called different collectives: rank " + rank() + " called "
                        + describe(mine) + ", rank " + j + " called " + describe(theirs));
            }
        }
    }

    private static String describe(long[] d) {
        String kind = d[1] > 0 && d[1] < KINDS.length ? KINDS[(int) d[1]] : "?";
        boolean half = d[1] >= ALL_GATHER16 && d[1] <= ALL_REDUCE16;
        String extra = d[3] < 0 ? "" : half ? ", " + HalfFormat.values()[(int) Math.min(d[3], 1)] : ", root " + d[3];
        return kind + "(" + d[2] + (half ? " 16-bit elements" : " floats") + extra + ") as collective #" + d[0];
    }

    @Override
    protected void closeTransport(boolean threadStopped) {
        own.markClosed();
        heartbeat.close();
        delete(own.file);
        removeHook(removeOnExit);
        // Unmapping memory a thread still touches would crash the JVM; if in doubt, leave it to the collector.
        if (threadStopped && heartbeat.ended()) for (Segment s : segments) s.close();
    }

    private static void delete(Path file) {
        try {
            Files.deleteIfExists(file);
        } catch (IOException e) {
            // The launcher removes the whole run directory at exit; nothing else can be done here.
        }
    }

    private static void removeHook(Thread hook) {
        try {
            Runtime.getRuntime().removeShutdownHook(hook);
        } catch (IllegalStateException e) {
            // The JVM is shutting down: the hook is running or about to, and deletes the file itself.
        }
    }
}
