package dev.memwall.bench;

import dev.memwall.kernels.Parallel;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

import java.util.concurrent.TimeUnit;

/**
 * Bandwidth roof for each kernel of {@link KernelBenchmark}: a {@code System.arraycopy} that moves the same number of
 * bytes ({@code KernelBenchmark.bytes(kernel)}; a copy of L floats reads 4·L and writes 4·L bytes, so L = bytes / 8).
 * Same volume matters: a 8 MB softmax may partly live in the last-level cache where a 137 MB AdamW cannot.
 *
 * <p>{@link #triad} (STREAM's a = b + s·c, same byte volume, one thread) is the roof for the one-thread kernel bodies of
 * {@link VectorKernelBenchmark}. Two copy roofs: {@code arraycopy} on the benchmark thread only, and {@code arraycopyParallel} split over
 * {@link Parallel} exactly as the kernels split their loops (one chunk per core, {@code -Dmemwall.threads}). A kernel
 * is compared with the parallel one; the serial one shows how much a single core can pull.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"-Xms1g", "-Xmx1g", "-XX:+UseParallelGC"})
public class KernelRoofBenchmark {
    @Param({"softmaxForward", "causalSoftmaxForward", "layerNormForward", "layerNormBackward", "geluForward",
            "geluBackward", "adamw", "causalSoftmaxBackward", "gradNorm", "add", "columnSums"})
    public String kernel;

    private float[] src, dst, ta, tb, tc;

    /** Bytes moved by one call: the kernel's volume, rounded down to whole floats copied. */
    public static long bytes(String kernel) {
        return 8L * floats(kernel);
    }

    static int floats(String kernel) {
        return (int) (KernelBenchmark.bytes(kernel) / 8);
    }

    @Setup(Level.Trial)
    public void setup() {
        int n = floats(kernel);
        src = KernelBenchmark.filled(n, 10, 1f);
        dst = new float[n];
        int t = triadFloats(kernel);
        ta = new float[t];
        tb = KernelBenchmark.filled(t, 11, 1f);
        tc = KernelBenchmark.filled(t, 12, 1f);
    }

    /** Triad arrays' length: a = b + s·c reads 8 and writes 4 bytes per element, so L = bytes / 12. */
    static int triadFloats(String kernel) {
        return (int) (KernelBenchmark.bytes(kernel) / 12);
    }

    /** Bytes the triad moves for this kernel's volume. */
    public static long triadBytes(String kernel) {
        return 12L * triadFloats(kernel);
    }

    /** STREAM's triad, a[i] = b[i] + s·c[i], on the benchmark thread: the one-thread roof for the kernel bodies. */
    @Benchmark
    public float[] triad() {
        float[] a = ta, b = tb, c = tc;
        for (int i = 0; i < a.length; i++) a[i] = b[i] + 0.5f * c[i];
        return a;
    }

    @Benchmark
    public float[] arraycopy() {
        System.arraycopy(src, 0, dst, 0, src.length);
        return dst;
    }

    @Benchmark
    public float[] arraycopyParallel() {
        // Cost 1 per element: at these sizes (>= 0.5M floats) Parallel always uses every core.
        Parallel.range(src.length, 1, (from, to) -> System.arraycopy(src, from, dst, from, to - from));
        return dst;
    }
}
