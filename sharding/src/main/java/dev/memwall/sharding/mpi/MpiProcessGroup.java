package dev.memwall.sharding.mpi;

import dev.memwall.sharding.AsyncProcessGroup;
import dev.memwall.sharding.CommException;
import dev.memwall.sharding.JoinRefusedException;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.ShortPointer;
import dev.memwall.sharding.HalfFormat;

import java.util.concurrent.locks.LockSupport;

/**
 * The Open MPI backend: every collective is Open MPI's own ({@code MPI_Iallreduce}, {@code MPI_Ireduce_scatter_block},
 * {@code MPI_Iallgather}, {@code MPI_Ibcast}, {@code MPI_Ibarrier}) over whatever transport {@code mpirun} chose
 * (shared memory on one node, TCP or InfiniBand between nodes), reached through {@link MpiNative}.
 *
 * <p><b>Data flow.</b> As in the shared-memory backend, calls run in order on the group's communication thread, so an
 * async call overlaps the caller's compute. A call runs in rounds of at most one slot ({@link MpiOptions#slotFloats}):
 * copy this rank's part of the round from the heap array into a native scratch buffer reused by every call (one
 * {@code GetFloatArrayRegion}, no allocation), start the non-blocking collective in place on it, poll it with
 * {@code MPI_Test} (sleeping up to {@link MpiOptions#pollMaxMicros} between polls once it has spun a little, so the
 * waiting thread does not take a core from the training thread, as a blocking MPI call's busy wait would), and copy the
 * result back. Reduce-scatter and all-gather move a piece of every shard per round (slot / N floats each). Why native
 * scratch and not the arrays themselves: {@link MpiNative}.
 *
 * <p><b>Sums.</b> Open MPI chooses the reduction algorithm (by size and world), so element i is the sum of the ranks'
 * values in an order it picks: every rank gets the same bits (each piece is reduced once and then distributed, or, for
 * two ranks, a + b = b + a), but not necessarily the bits of the rank-order sum the shared-memory backend computes; at
 * N = 2 they are the same.
 *
 * <p><b>Bytes.</b> The ring-equivalent figures are counted as for every backend (by {@link AsyncProcessGroup});
 * {@code rawBytesWritten}/{@code rawBytesRead} count the copies into and out of the native scratch, which is counted as
 * COMMUNICATION while a call uses it.
 *
 * <p><b>Start and end.</b> {@link #join} initialises MPI once per process ({@code MPI_THREAD_SERIALIZED}; MPI cannot be
 * initialised again after it is finalised). {@link #close()} calls {@code MPI_Finalize}, which every rank must reach,
 * only when the group is in step with its peers: its last collective was a barrier that completed. A group closed
 * out of step (after a failure, while peers may wait in a collective this rank will never join) does not finalise: it
 * says so on stderr, and when the process exits {@code mpirun} ends the whole job with that rank's status (Open MPI
 * aborts a job whose process exits without finalising), which is what {@code MPI_Abort} would do, but after the
 * process has printed why it failed. A rank that dies is reported by {@code mpirun}, which kills the others.
 */
public final class MpiProcessGroup extends AsyncProcessGroup {
    private static final int SPINS = 200;
    private static boolean initialised;

    private final MpiOptions options;
    private final FloatPointer scratch;
    /** The same native scratch seen as 32-bit integers: {@link #runAllReduceMax}'s ordered keys. */
    private final IntPointer scratchInts;
    /** The same native scratch seen as 2·slot 16-bit elements. */
    private final ShortPointer scratch16;
    /** A second handle on the 16-bit scratch, for an all-to-all's receive blocks (its own position). */
    private final ShortPointer recv16;
    private final IntPointer done = new IntPointer(1);
    private final String library;
    /** Communication thread: the last collective that ran was a barrier that completed, and nothing ran after it. */
    private boolean inStep;
    private boolean finalised;

    private MpiProcessGroup(int rank, int worldSize, MpiOptions options, String library) {
        super(rank, worldSize);
        this.options = options;
        this.library = library;
        this.scratch = new FloatPointer((long) options.slotFloats());
        this.scratch16 = new ShortPointer(scratch);
        this.scratchInts = new IntPointer(scratch);
        this.scratch16.capacity(2L * options.slotFloats()).limit(2L * options.slotFloats());
        this.recv16 = new ShortPointer(scratch16);
        this.recv16.capacity(2L * options.slotFloats()).limit(2L * options.slotFloats());
    }

    /**
     * Initialises MPI, checks that it sees the rank and world size {@code mpirun} announced in {@code env}, and meets
     * the other ranks at a first barrier.
     *
     * @throws JoinRefusedException when the binding is missing, MPI is already initialised in this process, or MPI's
     *                              world differs from the environment's
     */
    public static synchronized MpiProcessGroup join(MpiEnvironment env, MpiOptions options) {
        String missing = unavailable();
        if (missing != null) throw new JoinRefusedException(missing);
        if (initialised) {
            throw new JoinRefusedException("MPI is initialised once per process: this process already joined an MPI "
                    + "process group (MPI cannot be initialised again after MPI_Finalize)");
        }
        int[] out = new int[1];
        check(MpiNative.memwall_mpi_init(out), "MPI_Init_thread");
        initialised = true;
        if (out[0] < 2) { // MPI_THREAD_SERIALIZED is 2 in Open MPI; SINGLE (0) or FUNNELED (1) would tie MPI to this thread
            MpiNative.memwall_mpi_finalize();
            throw new JoinRefusedException("Open MPI granted thread level " + out[0]
                    + ", below MPI_THREAD_SERIALIZED, which a communication thread needs");
        }
        check(MpiNative.memwall_mpi_rank(out), "MPI_Comm_rank");
        int rank = out[0];
        check(MpiNative.memwall_mpi_size(out), "MPI_Comm_size");
        int size = out[0];
        if (env != null && (rank != env.rank() || size != env.worldSize())) {
            throw new JoinRefusedException("MPI says rank " + rank + " of " + size + ", but the environment says "
                    + "OMPI_COMM_WORLD_RANK=" + env.rank() + " of OMPI_COMM_WORLD_SIZE=" + env.worldSize());
        }
        String version = MpiNative.memwall_mpi_library_version();
        MpiProcessGroup group = new MpiProcessGroup(rank, size, options, version == null ? "" : version.lines().findFirst().orElse(""));
        group.barrier();
        group.counters().reset(); // the joining barrier is not the caller's traffic
        return group;
    }

    /** Null when the binding and libmpi load; else what is missing and what to install. */
    public static String unavailable() {
        if (MpiNative.class.getResource("linux-x86_64/libjnimemwall_mpi.so") == null) {
            return "the Open MPI binding is not built into this memwall: it is compiled where Open MPI's mpi.h and g++ exist "
                    + "at build time (Debian/Ubuntu: apt-get install openmpi-bin libopenmpi-dev g++), then rebuild "
                    + "(mvn -pl cli -am package, or delete cli/target/memwall.jar and run ./memwall again)";
        }
        try {
            MpiNative.load();
            return null;
        } catch (UnsatisfiedLinkError e) {
            return "the Open MPI binding is built but cannot load Open MPI's library (" + e.getMessage()
                    + "); install it (Debian/Ubuntu: apt-get install openmpi-bin)";
        }
    }

    @Override
    public String backend() {
        return "mpi";
    }

    /** The first line of MPI_Get_library_version, e.g. "Open MPI v4.1.4, ...". */
    public String library() {
        return library;
    }

    @Override
    protected void runAllReduce(float[] buf, int off, int len, Call call) {
        inStep = false;
        int slot = options.slotFloats();
        call.borrowed(4L * Math.min(len, slot));
        for (int s = 0, k = 0; k == 0 || s < len; s += slot, k++) {
            int m = Math.min(slot, len - s);
            scratch.position(0).put(buf, off + s, m);
            call.wrote(m);
            complete(MpiNative.memwall_mpi_iallreduce(scratch.position(0), m), call);
            scratch.position(0).get(buf, off + s, m);
            call.read(m);
        }
    }

    /**
     * As {@link #runAllReduce}, taking the maximum. Open MPI's MAX on floats gives an order-dependent answer when an
     * element is NaN on some rank, so each float travels as an ordered integer key (the IEEE bits, negatives flipped:
     * integer order is float order, -0 below +0, every NaN made the canonical positive NaN, above +infinity) and
     * {@code MPI_MAX} on {@code MPI_INT} picks the largest key exactly: NaN wins, as on the shared-memory backend.
     */
    @Override
    protected void runAllReduceMax(float[] buf, int off, int len, Call call) {
        inStep = false;
        int slot = options.slotFloats();
        call.borrowed(4L * Math.min(len, slot));
        int[] keys = new int[Math.min(len, slot)];
        for (int s = 0, k = 0; k == 0 || s < len; s += slot, k++) {
            int m = Math.min(slot, len - s);
            for (int i = 0; i < m; i++) keys[i] = orderedKey(buf[off + s + i]);
            scratchInts.position(0).put(keys, 0, m);
            call.wrote(m);
            complete(MpiNative.memwall_mpi_iallreduce_max(scratchInts.position(0), m), call);
            scratchInts.position(0).get(keys, 0, m);
            for (int i = 0; i < m; i++) buf[off + s + i] = fromOrderedKey(keys[i]);
            call.read(m);
        }
    }

    static int orderedKey(float f) {
        int bits = Float.floatToIntBits(f); // every NaN as the canonical 0x7fc00000
        return bits >= 0 ? bits : bits ^ 0x7fffffff;
    }

    static float fromOrderedKey(int key) {
        return Float.intBitsToFloat(key >= 0 ? key : key ^ 0x7fffffff);
    }

    @Override
    protected void runReduceScatter(float[] in, int inOff, float[] out, int outOff, int shard, Call call) {
        inStep = false;
        int n = worldSize();
        int piece = options.slotFloats() / n;
        call.borrowed(4L * n * Math.min(piece, shard));
        for (int s = 0, k = 0; k == 0 || s < shard; s += piece, k++) {
            int m = Math.min(piece, shard - s);
            for (int j = 0; j < n; j++) scratch.position((long) j * m).put(in, inOff + j * shard + s, m);
            call.wrote((long) n * m);
            complete(MpiNative.memwall_mpi_ireduce_scatter_block(scratch.position(0), m), call);
            scratch.position(0).get(out, outOff + s, m);
            call.read(m);
        }
    }

    @Override
    protected void runAllGather(float[] in, int inOff, float[] out, int outOff, int shard, Call call) {
        inStep = false;
        int n = worldSize();
        int piece = options.slotFloats() / n;
        call.borrowed(4L * n * Math.min(piece, shard));
        for (int s = 0, k = 0; k == 0 || s < shard; s += piece, k++) {
            int m = Math.min(piece, shard - s);
            scratch.position((long) rank() * m).put(in, inOff + s, m);
            call.wrote(m);
            complete(MpiNative.memwall_mpi_iallgather(scratch.position(0), m), call);
            for (int j = 0; j < n; j++) scratch.position((long) j * m).get(out, outOff + j * shard + s, m);
            call.read((long) n * m);
        }
    }

    // 16-bit collectives. MPI has no BF16 sum, and its reduction order is its own: a 16-bit reduction is an all-to-all
    // of the pieces, each rank adding its shard in FP32 in rank order and encoding once (the shared-memory backend's
    // bits exactly), and an all-reduce is that followed by an all-gather of the encoded shards.

    @Override
    protected void runAllGather16(short[] in, int inOff, short[] out, int outOff, int shard, Call call) {
        inStep = false;
        int n = worldSize();
        int piece = 2 * options.slotFloats() / n;
        call.borrowed(2L * n * Math.min(piece, shard));
        for (int s = 0, k = 0; k == 0 || s < shard; s += piece, k++) {
            int m = Math.min(piece, shard - s);
            scratch16.position((long) rank() * m).put(in, inOff + s, m);
            call.wrote16(m);
            complete(MpiNative.memwall_mpi_iallgather16(scratch16.position(0), m), call);
            for (int j = 0; j < n; j++) scratch16.position((long) j * m).get(out, outOff + j * shard + s, m);
            call.read16((long) n * m);
        }
    }

    @Override
    protected void runReduceScatter16(short[] in, int inOff, short[] out, int outOff, int shard, HalfFormat format,
                                      Call call) {
        inStep = false;
        int n = worldSize(), slot = options.slotFloats();
        int piece = slot / n; // send blocks in the first slot elements, received blocks in the second
        int part = Math.min(piece, shard);
        call.borrowed(4L * n * part);
        float[] acc = call.scratch(0, part);
        short[] tmp = call.scratch16(part);
        ShortPointer recv = recv16;
        {
            for (int s = 0, k = 0; k == 0 || s < shard; s += piece, k++) {
                int m = Math.min(piece, shard - s);
                for (int j = 0; j < n; j++) scratch16.position((long) j * m).put(in, inOff + j * shard + s, m);
                call.wrote16((long) n * m);
                complete(MpiNative.memwall_mpi_ialltoall16(scratch16.position(0), recv.position(slot), m), call);
                sumInRankOrder16(slot, m, acc, tmp, format, call);
                format.encode(acc, 0, out, outOff + s, m);
            }
        }
    }

    @Override
    protected void runAllReduce16(short[] buf, int off, int len, HalfFormat format, Call call) {
        inStep = false;
        int n = worldSize(), slot = options.slotFloats();
        int round = slot / n * n; // n blocks of q = round / n elements, each block a rank's share to sum
        int q0 = Math.min(round, len) / n + 1;
        call.borrowed(4L * Math.min(slot, (long) n * q0));
        float[] acc = call.scratch(0, q0);
        short[] tmp = call.scratch16(q0);
        ShortPointer recv = recv16;
        {
            for (int s = 0, k = 0; k == 0 || s < len; s += round, k++) {
                int m = Math.min(round, len - s), q = (m + n - 1) / n;
                for (int j = 0; j < n; j++) {
                    int lo = Math.min(m, j * q), hi = Math.min(m, (j + 1) * q);
                    scratch16.position((long) j * q).put(buf, off + s + lo, hi - lo);
                    for (long z = (long) j * q + hi - lo; z < (long) (j + 1) * q; z++) scratch16.put(z, (short) 0);
                }
                call.wrote16((long) n * q);
                complete(MpiNative.memwall_mpi_ialltoall16(scratch16.position(0), recv.position(slot), q), call);
                sumInRankOrder16(slot, q, acc, tmp, format, call);
                format.encode(acc, 0, tmp, 0, q);
                scratch16.position((long) rank() * q).put(tmp, 0, q);
                complete(MpiNative.memwall_mpi_iallgather16(scratch16.position(0), q), call);
                scratch16.position(0).get(buf, off + s, m);
                call.read16(m);
            }
        }
    }

    /** acc[0, w) = Σ_j decode(block j of the received area at {@code at}), in FP32 and rank order. */
    private void sumInRankOrder16(int at, int w, float[] acc, short[] tmp, HalfFormat format, Call call) {
        int n = worldSize();
        for (int j = 0; j < n; j++) {
            scratch16.position(at + (long) j * w).get(tmp, 0, w);
            if (j == 0) format.decode(tmp, 0, acc, 0, w);
            else for (int i = 0; i < w; i++) acc[i] += format.toFloat(tmp[i]);
        }
        call.read16((long) n * w);
    }

    @Override
    protected void runBroadcast(float[] buf, int off, int len, int root, Call call) {
        inStep = false;
        int slot = options.slotFloats();
        call.borrowed(4L * Math.min(len, slot));
        for (int s = 0, k = 0; k == 0 || s < len; s += slot, k++) {
            int m = Math.min(slot, len - s);
            if (rank() == root) {
                scratch.position(0).put(buf, off + s, m);
                call.wrote(m);
            }
            complete(MpiNative.memwall_mpi_ibcast(scratch.position(0), m, root), call);
            if (rank() != root) {
                scratch.position(0).get(buf, off + s, m);
                call.read(m);
            }
        }
    }

    @Override
    protected void runBarrier(Call call) {
        inStep = false;
        complete(MpiNative.memwall_mpi_ibarrier(), call);
        inStep = true;
    }

    /** Waits for the collective just started (error code {@code started}) to finish, within the collective timeout. */
    private void complete(int started, Call call) {
        if (started != 0) throw failure(call, started, "could not start");
        long deadline = System.nanoTime() + options.collectiveTimeoutMillis() * 1_000_000L;
        long sleep = 1_000;
        for (int polls = 0; ; polls++) {
            int err = MpiNative.memwall_mpi_test(done);
            if (err != 0) throw failure(call, err, "failed");
            if (done.get() != 0) return;
            if (polls < SPINS || options.pollMaxMicros() == 0) {
                Thread.onSpinWait();
            } else {
                LockSupport.parkNanos(sleep);
                sleep = Math.min(2 * sleep, options.pollMaxMicros() * 1_000);
            }
            if ((polls & 63) == 0) {
                if (Thread.interrupted()) {
                    throw new CommException(call.name() + " on rank " + rank() + " was interrupted while waiting for its peers");
                }
                if (System.nanoTime() > deadline) {
                    throw new CommException(call.name() + " on rank " + rank() + ": the peers did not complete it within "
                            + options.collectiveTimeoutMillis() / 1000.0 + " s (MEMWALL_COLLECTIVE_TIMEOUT_S)");
                }
            }
        }
    }

    private CommException failure(Call call, int code, String what) {
        return new CommException(call.name() + " on rank " + rank() + " " + what + ": MPI error " + code + ": "
                + MpiNative.memwall_mpi_error_string(code));
    }

    private static void check(int code, String call) {
        if (code != 0) {
            throw new JoinRefusedException(call + " failed: MPI error " + code + ": " + MpiNative.memwall_mpi_error_string(code));
        }
    }

    /** Whether {@link #close()} finalised MPI (the group was in step with its peers). */
    public boolean finalised() {
        return finalised;
    }

    @Override
    protected void closeTransport(boolean threadStopped) {
        if (threadStopped && inStep) {
            int err = MpiNative.memwall_mpi_finalize();
            finalised = err == 0;
            scratch.close();
            done.close();
            if (err != 0) System.err.println("rank " + rank() + ": MPI_Finalize failed: " + MpiNative.memwall_mpi_error_string(err));
            return;
        }
        // Peers may be waiting in a collective this rank will not join: finalising could wait for them forever.
        System.err.println("rank " + rank() + " of " + worldSize() + " (mpi): process group closed out of step with its "
                + "peers (after a failure, or without a barrier first); MPI is not finalised, so mpirun ends the job "
                + "when this process exits");
    }
}
