package dev.memwall.sharding.mpi;

import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.ShortPointer;
import org.bytedeco.javacpp.annotation.NoException;
import org.bytedeco.javacpp.annotation.Platform;

/**
 * memwall's JavaCPP binding to the system's Open MPI ({@code memwall_mpi.h} beside this class's resources): a handful
 * of functions on {@code MPI_COMM_WORLD}, {@code MPI_FLOAT} and {@code MPI_SUM}, so no MPI handle crosses into Java.
 * Each returns an MPI error code (0 = success).
 *
 * <p><b>Buffers.</b> The collectives take native memory ({@link FloatPointer}), not heap arrays: a blocking MPI call
 * waits for its peers, and a heap array can only be handed to C for that long either pinned in a JNI critical region
 * (the garbage collector of the whole JVM then waits on the slowest peer, and the training thread stops at its next
 * allocation that needs a collection) or copied whole by {@code GetFloatArrayElements} (HotSpot never pins there: it
 * copies the entire array, not only the range sent, in and out, and allocates the copy each call).
 * {@link MpiProcessGroup} instead copies just the range into a native scratch buffer it reuses
 * ({@code FloatPointer.put}, a {@code GetFloatArrayRegion}), which also lets the non-blocking forms outlive the JNI
 * call. {@link #memwall_mpi_allreduce_elements} is the {@code GetFloatArrayElements} way, kept for the measurement
 * in {@code MpiBufferBench}.
 *
 * <p>The native library is built by the JavaCPP Maven plugin in the sharding module's {@code native-mpi} profile, active
 * only where Open MPI's {@code mpi.h} and a C++ compiler exist; elsewhere this class compiles, and {@link #load()}
 * throws {@link UnsatisfiedLinkError}.
 */
@Platform(include = "memwall_mpi.h", link = "mpi", define = "OMPI_SKIP_MPICXX", library = "jnimemwall_mpi")
@NoException
public final class MpiNative {
    private MpiNative() {
    }

    /** Loads libmpi and this binding; throws {@link UnsatisfiedLinkError} where either is missing. */
    public static void load() {
        Loader.load(MpiNative.class);
    }

    /** MPI_Init_thread(SERIALIZED) after promoting libmpi to RTLD_GLOBAL; the thread level granted in provided[0]. */
    public static native int memwall_mpi_init(int[] provided);

    public static native int memwall_mpi_rank(int[] rank);

    public static native int memwall_mpi_size(int[] size);

    public static native int memwall_mpi_iallreduce(FloatPointer buf, int count);

    /** In-place element-wise maximum ({@code MPI_MAX} on {@code MPI_INT}) over ranks, of ordered integer keys. */
    public static native int memwall_mpi_iallreduce_max(IntPointer buf, int count);

    public static native int memwall_mpi_ireduce_scatter_block(FloatPointer buf, int count);

    public static native int memwall_mpi_iallgather(FloatPointer buf, int count);

    /** All-gather of 16-bit elements in place: buf holds N blocks of count, this rank's already at block [rank]. */
    public static native int memwall_mpi_iallgather16(ShortPointer buf, int count);

    /** All-to-all of 16-bit elements: send block j (count elements) goes to rank j, recv block j comes from rank j. */
    public static native int memwall_mpi_ialltoall16(ShortPointer send, ShortPointer recv, int count);

    public static native int memwall_mpi_ibcast(FloatPointer buf, int count, int root);

    public static native int memwall_mpi_ibarrier();

    /** done[0] = 1 once the collective in flight has finished. */
    public static native int memwall_mpi_test(IntPointer done);

    /** Blocking in-place all-reduce of array[off, off+count), the array copied whole in and out by JNI. */
    public static native int memwall_mpi_allreduce_elements(float[] array, int off, int count);

    /** Blocking in-place all-reduce on native memory. */
    public static native int memwall_mpi_allreduce(FloatPointer buf, int count);

    public static native int memwall_mpi_finalize();

    public static native int memwall_mpi_abort(int code);

    public static native int memwall_mpi_initialized(int[] flag);

    public static native int memwall_mpi_finalized(int[] flag);

    public static native String memwall_mpi_error_string(int code);

    public static native String memwall_mpi_library_version();
}
