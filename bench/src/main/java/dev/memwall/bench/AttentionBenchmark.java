package dev.memwall.bench;

import dev.memwall.kernels.AttentionKernel;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.Blackhole;

import java.util.concurrent.TimeUnit;

/**
 * The fused causal attention kernels of one layer of the benchmark GPT (B=16, T=128, H=4, head width 64), split over
 * the kernel threads as in training: {@code probs} (q·kᵀ, scale, mask, softmax), {@code attend} (P·v, heads merged)
 * and {@code backward} (dV, dP, dS, dQ, dK). The GEMMs cover only the key blocks a query block sees
 * ({@link AttentionKernel#block()} rows per block, {@code -jvmArgsAppend -Dmemwall.attention.block=N} to compare
 * sizes; N = 128 is the whole T×T product).
 *
 * <p>Work per call: 2·B·H·{@link AttentionKernel#scorePairs}(T)·64 FLOPs per GEMM (one in probs and attend, four in
 * backward) plus the softmax; the block size changes the work, so compare block sizes by time.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"-Xms1g", "-Xmx1g", "-XX:+UseParallelGC"})
public class AttentionBenchmark {
    static final int B = 16, T = 128, H = 4, HD = 64, D = H * HD;
    private final float scale = (float) (1 / Math.sqrt(HD));
    private float[] qkv, p, out, g, dqkv;

    @Setup
    public void setup() {
        qkv = new float[B * T * 3 * D];
        g = new float[B * T * D];
        GemmBenchmark.fill(qkv, 1);
        GemmBenchmark.fill(g, 2);
        p = new float[B * H * T * T];
        out = new float[B * T * D];
        dqkv = new float[B * T * 3 * D];
        AttentionKernel.probs(qkv, 0, p, 0, B, T, H, HD, scale);
    }

    @Benchmark
    public void probs(Blackhole bh) {
        AttentionKernel.probs(qkv, 0, p, 0, B, T, H, HD, scale);
        bh.consume(p);
    }

    @Benchmark
    public void attend(Blackhole bh) {
        AttentionKernel.attend(qkv, 0, p, 0, out, 0, B, T, H, HD);
        bh.consume(out);
    }

    @Benchmark
    public void backward(Blackhole bh) {
        AttentionKernel.backward(qkv, 0, p, 0, g, 0, dqkv, 0, B, T, H, HD, scale);
        bh.consume(dqkv);
    }
}
