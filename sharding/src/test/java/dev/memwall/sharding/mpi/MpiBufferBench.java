package dev.memwall.sharding.mpi;

import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;

import java.util.Arrays;

/**
 * How to hand a heap float[] range to MPI, measured (run by hand under mpirun; not a test):
 * {@code mpirun -np 2 java -cp ... dev.memwall.sharding.mpi.MpiBufferBench FLOATS ARRAY_FLOATS ITERATIONS}.
 * All-reduces FLOATS floats that sit inside an array of ARRAY_FLOATS floats, each way ITERATIONS times, and prints the
 * median milliseconds on rank 0:
 * <ul>
 *   <li>elements: the float[] passed to JNI as JavaCPP does by default ({@code Get/ReleaseFloatArrayElements}), then a
 *       blocking MPI_Allreduce;</li>
 *   <li>region+blocking: the range copied into reused native memory, blocking MPI_Allreduce, copied back;</li>
 *   <li>region+nonblocking: the same with MPI_Iallreduce polled by MPI_Test (what MpiProcessGroup does).</li>
 * </ul>
 */
public final class MpiBufferBench {
    private MpiBufferBench() {
    }

    public static void main(String[] args) {
        int floats = Integer.parseInt(args[0]), arrayFloats = Integer.parseInt(args[1]), iterations = Integer.parseInt(args[2]);
        MpiNative.load();
        int[] out = new int[1];
        check(MpiNative.memwall_mpi_init(out));
        check(MpiNative.memwall_mpi_rank(out));
        int rank = out[0];
        float[] array = new float[arrayFloats];
        int off = arrayFloats - floats;
        FloatPointer scratch = new FloatPointer((long) floats);
        IntPointer done = new IntPointer(1);
        String[] names = {"elements", "region+blocking", "region+nonblocking"};
        double[][] ms = new double[3][iterations];
        for (int i = -3; i < iterations; i++) {
            for (int way = 0; way < 3; way++) {
                check(MpiNative.memwall_mpi_allreduce(scratch, 1)); // line up the ranks
                long t = System.nanoTime();
                switch (way) {
                    case 0 -> check(MpiNative.memwall_mpi_allreduce_elements(array, off, floats));
                    case 1 -> {
                        scratch.position(0).put(array, off, floats);
                        check(MpiNative.memwall_mpi_allreduce(scratch.position(0), floats));
                        scratch.position(0).get(array, off, floats);
                    }
                    default -> {
                        scratch.position(0).put(array, off, floats);
                        check(MpiNative.memwall_mpi_iallreduce(scratch.position(0), floats));
                        do check(MpiNative.memwall_mpi_test(done)); while (done.get() == 0);
                        scratch.position(0).get(array, off, floats);
                    }
                }
                if (i >= 0) ms[way][i] = (System.nanoTime() - t) / 1e6;
            }
        }
        if (rank == 0) {
            for (int way = 0; way < 3; way++) {
                Arrays.sort(ms[way]);
                System.out.printf("%-20s %d floats in an array of %d: median %.3f ms, min %.3f ms%n", names[way], floats,
                        arrayFloats, ms[way][iterations / 2], ms[way][0]);
            }
        }
        check(MpiNative.memwall_mpi_finalize());
    }

    private static void check(int err) {
        if (err != 0) throw new IllegalStateException("MPI error " + err + ": " + MpiNative.memwall_mpi_error_string(err));
    }
}
