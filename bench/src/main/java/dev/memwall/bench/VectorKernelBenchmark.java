package dev.memwall.bench;

import dev.memwall.kernels.KernelBodies;
import dev.memwall.kernels.Vectorization;
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
import org.openjdk.jmh.infra.Blackhole;

import java.util.Arrays;
import java.util.concurrent.TimeUnit;

/**
 * The kernel bodies ({@link KernelBodies}) on one thread, scalar against Vector API ({@code impl}), at the sizes of
 * {@link KernelBenchmark} (the benchmark GPT's). Each call runs one body over the whole volume, without
 * {@code Parallel}'s split, so the figure to compare with is {@link KernelRoofBenchmark}'s one-thread copy and triad.
 * Bytes per call: {@link KernelBenchmark#bytes(String)} under the same kernel name.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"-Xms1g", "-Xmx1g", "-XX:+UseParallelGC", "--add-modules", "jdk.incubator.vector"})
public class VectorKernelBenchmark {
    static final int B = KernelBenchmark.B, T = KernelBenchmark.T, H = KernelBenchmark.H;
    static final int LN_ROWS = KernelBenchmark.LN_ROWS, LN_N = KernelBenchmark.LN_N, GELU_N = KernelBenchmark.GELU_N;
    static final int ADAMW_N = KernelBenchmark.ADAMW_N;

    @Param({"scalar", "vector"})
    public String impl;

    private KernelBodies k;
    private float[] smX, smY, smG, smDx;
    private float[] lnX, lnW, lnB, lnY, lnMean, lnRstd, lnG, lnDx, lnDw, lnDb;
    private float[] gX, gG, gY, gDx;
    private float[] p, grad, m, v;
    private float[] addA, addB, addOut, colAcc;

    @Setup(Level.Trial)
    public void setup() {
        k = impl.equals("vector") ? Vectorization.vector() : Vectorization.scalar();
        smX = KernelBenchmark.filled(B * H * T * T, 1, 4f);
        smY = new float[smX.length];
        smG = KernelBenchmark.filled(smX.length, 11, 1f);
        smDx = new float[smX.length];
        lnX = KernelBenchmark.filled(LN_ROWS * LN_N, 2, 2f);
        lnW = KernelBenchmark.filled(LN_N, 3, 0.2f);
        for (int i = 0; i < LN_N; i++) lnW[i] += 1f;
        lnB = KernelBenchmark.filled(LN_N, 4, 0.2f);
        lnY = new float[LN_ROWS * LN_N];
        lnMean = new float[LN_ROWS];
        lnRstd = new float[LN_ROWS];
        lnG = KernelBenchmark.filled(LN_ROWS * LN_N, 5, 1f);
        lnDx = new float[LN_ROWS * LN_N];
        lnDw = new float[LN_N];
        lnDb = new float[LN_N];
        layerNormForward();
        gX = KernelBenchmark.filled(GELU_N, 6, 6f);
        gG = KernelBenchmark.filled(GELU_N, 7, 1f);
        gY = new float[GELU_N];
        gDx = new float[GELU_N];
        p = KernelBenchmark.filled(ADAMW_N, 8, 0.04f);
        grad = KernelBenchmark.filled(ADAMW_N, 9, 0.02f);
        m = new float[ADAMW_N];
        v = new float[ADAMW_N];
        addA = KernelBenchmark.filled(KernelBenchmark.ADD_N, 12, 1f);
        addB = KernelBenchmark.filled(KernelBenchmark.ADD_N, 13, 1f);
        addOut = new float[KernelBenchmark.ADD_N];
        colAcc = new float[KernelBenchmark.COLUMNS];
    }

    /** The rows of {@code Softmax.causalForward}: max, exp and sum, scale, zero the masked part. */
    @Benchmark
    public float[] causalSoftmaxForward() {
        float scale = 0.125f;
        for (int row = 0; row < B * H * T; row++) {
            int i = row % T, xi = row * T;
            float max = k.maxScaled(smX, xi, i + 1, scale);
            float inv = 1f / k.expSum(smX, xi, scale, max, smY, xi, i + 1);
            k.scale(smY, xi, i + 1, inv);
            Arrays.fill(smY, xi + i + 1, xi + T, 0f);
        }
        return smY;
    }

    /** The rows of {@code Softmax.causalBackward} (y from the forward above, whatever it holds). */
    @Benchmark
    public float[] causalSoftmaxBackward() {
        for (int row = 0; row < B * H * T; row++) {
            int i = row % T, yi = row * T;
            k.softmaxGrad(smY, yi, smG, yi, k.dot(smG, yi, smY, yi, i + 1), 0.125f, smDx, yi, i + 1);
            Arrays.fill(smDx, yi + i + 1, yi + T, 0f);
        }
        return smDx;
    }

    @Benchmark
    public float[] layerNormForward() {
        k.layerNormForward(lnX, 0, lnW, 0, lnB, 0, 1e-5f, lnY, 0, lnMean, lnRstd, 0, 0, LN_ROWS, LN_N);
        return lnY;
    }

    @Benchmark
    public void layerNormBackward(Blackhole bh) {
        Arrays.fill(lnDw, 0f);
        Arrays.fill(lnDb, 0f);
        k.layerNormBackward(lnX, 0, lnW, 0, lnMean, lnRstd, 0, lnG, 0, lnDx, 0, lnDw, lnDb, 0, LN_ROWS, LN_N);
        bh.consume(lnDx);
        bh.consume(lnDw);
        bh.consume(lnDb);
    }

    @Benchmark
    public float[] geluForward() {
        k.geluForward(gX, 0, gY, 0, GELU_N);
        return gY;
    }

    @Benchmark
    public float[] geluBackward() {
        k.geluBackward(gX, 0, gG, 0, gDx, 0, GELU_N);
        return gDx;
    }

    /** As {@link KernelBenchmark#adamw}: constants of step 100. */
    @Benchmark
    public float[] adamw() {
        k.adamw(p, 0, grad, 0, m, 0, v, 0, ADAMW_N, 3.4e-4f, 0.99f, 0.99997f, 0.9f, 0.1f, 0.95f, 0.05f, 1e-8f);
        return p;
    }

    /** The gradient norm's sum of squares over every parameter's gradient. */
    @Benchmark
    public double gradNorm() {
        return k.sumOfSquares(grad, 0, ADAMW_N);
    }

    /** A residual add, [B·T, D]. */
    @Benchmark
    public float[] add() {
        k.add(addA, 0, addB, 0, addOut, 0, KernelBenchmark.ADD_N);
        return addOut;
    }

    /** The fc layer's bias gradient: column sums of [B·T, 4D]. */
    @Benchmark
    public float[] columnSums() {
        Arrays.fill(colAcc, 0f);
        k.columnSums(gG, 0, B * T, KernelBenchmark.COLUMNS, 0, KernelBenchmark.COLUMNS, colAcc);
        return colAcc;
    }
}
