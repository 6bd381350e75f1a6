package dev.memwall.bench;

import dev.memwall.format.Bf16;
import dev.memwall.format.Overflow;
import dev.memwall.kernels.Gemm;
import dev.memwall.kernels.Sbgemm;
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
import org.openjdk.jmh.infra.BenchmarkParams;
import org.openjdk.jmh.infra.Blackhole;

import java.util.concurrent.TimeUnit;

/**
 * BF16 GEMM against FP32 GEMM at the Linear shapes of the GPT benchmark model (D=256, MLP 1024, M = B·T = 2048; the
 * shape strings of {@link GemmBenchmark}, M×K×N), one attention head's two GEMMs, and one wider layer (D=384, MLP
 * 1536, M=4096):
 * <ul>
 *   <li>{@code sgemm}: FP32 operands, {@link Gemm#sgemm} — the baseline;</li>
 *   <li>{@code decode}: BF16 operands, {@link Gemm#sbgemm} on {@link Sbgemm.Path#DECODE} (decode to FP32, sgemm);</li>
 *   <li>{@code avx512bf16}: BF16 operands, {@link Gemm#sbgemm} on {@link Sbgemm.Path#AVX512_BF16} (memwall's own
 *       {@code vdpbf16ps} kernel); its setup fails, naming why, on a CPU without AVX512-BF16;</li>
 *   <li>{@code sbgemm}: BF16 operands, {@link Gemm#sbgemm} on {@link Sbgemm.Path#NATIVE} (OpenBLAS
 *       {@code cblas_sbgemm}); where it cannot run (no binding, or an OpenBLAS without {@code cblas_sbgemm}) its setup
 *       fails with the reason and JMH reports that benchmark as failed.</li>
 * </ul>
 * Each runs in its own fork, as the path is chosen once per process ({@code -Dmemwall.sbgemm}). All three split over
 * the project's kernel threads with OpenBLAS single-threaded. GFLOP/s = 2·M·N·K / time.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"-Xms1g", "-Xmx1g", "-XX:+UseParallelGC"})
public class SbgemmBenchmark {
    @Param({
            // benchmark GPT, Linear forward y = x·Wᵀ: qkv, attention proj, fc, MLP proj
            "2048x256x768:NT", "2048x256x256:NT", "2048x256x1024:NT", "2048x1024x256:NT",
            // backward: dX = dY·W (qkv, MLP proj) and dW = dYᵀ·X (qkv, fc, MLP proj)
            "2048x768x256:NN", "2048x256x1024:NN", "768x2048x256:TN", "1024x2048x256:TN", "256x2048x1024:TN",
            // one attention head: q·kᵀ and P·v (T=128, head 64)
            "128x64x128:NT", "128x128x64:NN",
            // a wider layer's fc (D=384, MLP 1536, B·T = 4096)
            "4096x384x1536:NT",
    })
    public String shape;

    private GemmBenchmark.Shape s;
    private float[] a, b, c;
    private short[] a16, b16;

    @Setup(Level.Trial)
    public void setup(BenchmarkParams params) {
        s = GemmBenchmark.Shape.parse(shape);
        if (s.batch() != 1) throw new IllegalArgumentException("one GEMM per call: " + shape);
        a = new float[s.sizeA()];
        b = new float[s.sizeB()];
        c = new float[s.sizeC()];
        GemmBenchmark.fill(a, 1);
        GemmBenchmark.fill(b, 2);
        a16 = new short[a.length];
        b16 = new short[b.length];
        Bf16.encode(a, 0, a16, 0, a.length, Overflow.SATURATE);
        Bf16.encode(b, 0, b16, 0, b.length, Overflow.SATURATE);
        String method = params.getBenchmark().substring(params.getBenchmark().lastIndexOf('.') + 1);
        Sbgemm.Path want = switch (method) {
            case "decode" -> Sbgemm.Path.DECODE;
            case "sbgemm" -> Sbgemm.Path.NATIVE;
            case "avx512bf16" -> Sbgemm.Path.AVX512_BF16;
            default -> null;
        };
        if (want == Sbgemm.Path.NATIVE && Sbgemm.nativeMissing() != null) {
            throw new IllegalStateException("native sbgemm cannot run here: " + Sbgemm.nativeMissing());
        }
        if (want == Sbgemm.Path.AVX512_BF16 && Sbgemm.kernelMissing() != null) {
            throw new IllegalStateException("memwall's AVX512-BF16 GEMM cannot run here: " + Sbgemm.kernelMissing());
        }
        if (want != null && Gemm.sbgemmPath() != want) {
            throw new IllegalStateException(method + " runs on " + Gemm.sbgemmPath() + ", not " + want);
        }
    }

    @Benchmark
    public void sgemm(Blackhole bh) {
        Gemm.sgemm(s.transA(), s.transB(), s.m(), s.n(), s.k(), 1f, a, 0, b, 0, 0f, c, 0);
        bh.consume(c);
    }

    @Benchmark
    @Fork(value = 1, jvmArgsAppend = {"-Xms1g", "-Xmx1g", "-XX:+UseParallelGC", "-Dmemwall.sbgemm=decode"})
    public void decode(Blackhole bh) {
        Gemm.sbgemm(s.transA(), s.transB(), s.m(), s.n(), s.k(), 1f, a16, 0, b16, 0, 0f, c, 0);
        bh.consume(c);
    }

    @Benchmark
    @Fork(value = 1, jvmArgsAppend = {"-Xms1g", "-Xmx1g", "-XX:+UseParallelGC", "-Dmemwall.sbgemm=native"})
    public void sbgemm(Blackhole bh) {
        Gemm.sbgemm(s.transA(), s.transB(), s.m(), s.n(), s.k(), 1f, a16, 0, b16, 0, 0f, c, 0);
        bh.consume(c);
    }

    @Benchmark
    @Fork(value = 1, jvmArgsAppend = {"-Xms1g", "-Xmx1g", "-XX:+UseParallelGC", "-Dmemwall.sbgemm=avx512bf16"})
    public void avx512bf16(Blackhole bh) {
        Gemm.sbgemm(s.transA(), s.transB(), s.m(), s.n(), s.k(), 1f, a16, 0, b16, 0, 0f, c, 0);
        bh.consume(c);
    }

    /** Floating-point operations of one call of {@code shape}: 2·M·N·K. */
    public static double flops(String shape) {
        return GemmBenchmark.flops(shape);
    }
}
