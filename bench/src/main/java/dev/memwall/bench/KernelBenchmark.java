package dev.memwall.bench;

import dev.memwall.kernels.AdamWKernel;
import dev.memwall.kernels.Gelu;
import dev.memwall.kernels.LayerNormKernel;
import dev.memwall.kernels.Softmax;
import dev.memwall.nn.GptConfig;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
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
 * The memory-bound kernels of a training step at the benchmark GPT's sizes (B=16, T=128, D=256, H=4). They do a few
 * flops per element, so the figure of merit is bandwidth: {@link #bytes(String)} per call divided by the time,
 * compared with {@link KernelRoofBenchmark}, a copy of the same byte volume.
 *
 * <p>Bytes per call count each float array element read once and written once (compulsory traffic, 4 bytes each):
 * <ul>
 *   <li>softmaxForward, [B·H·T, T] = [8192, 128] attention probabilities: read x, write y: 2·4·rows·n;</li>
 *   <li>causalSoftmaxForward, the fused scale+mask+softmax attention now runs, same [B·H, T, T]: reads only the
 *       visible triangle, T(T+1)/2 per matrix, writes all of y (masked entries as 0): 4·B·H·(T(T+1)/2 + T·T);</li>
 *   <li>layerNormForward, [B·T, D] = [2048, 256]: read x, w, b, write y, mean, rstd: 4·(2·rows·n + 2·n + 2·rows);</li>
 *   <li>layerNormBackward: read x, g, w, mean, rstd, write dx, dw, db: 4·(3·rows·n + 3·n + 2·rows);</li>
 *   <li>geluForward, [B·T, 4D] = [2048, 1024]: read x, write y: 2·4·n;</li>
 *   <li>geluBackward: read x, g, write dx: 3·4·n;</li>
 *   <li>adamw over all {@link #ADAMW_N} parameters of the model: read p, g, m, v, write p, m, v: 7·4·n.</li>
 *   <li>causalSoftmaxBackward (in {@link VectorKernelBenchmark}): read y and g over the visible triangle, write all of
 *       dx: 4·B·H·(T(T+1) + T·T);</li>
 *   <li>gradNorm: read every gradient once: 4·n; add [B·T, D]: read two, write one: 3·4·n; columnSums of
 *       [B·T, 4D]: read it, write 4D sums: 4·(rows·cols + cols).</li>
 * </ul>
 * Row re-reads that hit cache (a 1 KB row is read twice by layer norm) are not counted: they cost no DRAM traffic.
 * Write-allocate reads are not counted either; the copy roof pays them the same way.
 *
 * <p><b>GB/s</b> = bytes / (score in µs · 1e3); see {@link Report}.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"-Xms1g", "-Xmx1g", "-XX:+UseParallelGC", "--add-modules", "jdk.incubator.vector"})
public class KernelBenchmark {
    static final int B = 16, T = 128, D = 256, H = 4;
    static final int SOFTMAX_ROWS = B * H * T, SOFTMAX_N = T;
    static final int LN_ROWS = B * T, LN_N = D;
    static final int GELU_N = B * T * 4 * D;
    /** A residual add over [B·T, D]; the fc bias gradient's column sums over [B·T, 4D]. */
    static final int ADD_N = B * T * D, COLUMNS = 4 * D;
    /** Parameters of {@code GptConfig.benchmark()}: 4,902,912 — AdamW steps over all of them in one flat range. */
    static final int ADAMW_N = (int) gptParameters(GptConfig.benchmark());

    /** Kernel names, as the benchmark methods and {@link KernelRoofBenchmark}'s {@code kernel} parameter spell them. */
    static final String[] KERNELS = {"softmaxForward", "causalSoftmaxForward", "layerNormForward",
            "layerNormBackward", "geluForward", "geluBackward", "adamw",
            // bodies measured by VectorKernelBenchmark only
            "causalSoftmaxBackward", "gradNorm", "add", "columnSums"};

    /** Parameter count of a GPT built by {@code nn.Gpt}: embeddings, blocks (qkv, proj, fc, out, 2 LN), final LN, head. */
    static long gptParameters(GptConfig c) {
        long d = c.dim(), v = c.vocab(), t = c.context();
        long perLayer = (d * 3 * d + 3 * d) + (d * d + d) + (d * 4 * d + 4 * d) + (4 * d * d + d) + 2 * (2 * d);
        return v * d + t * d + c.layers() * perLayer + 2 * d + d * v;
    }

    /** Compulsory bytes read plus written by one call of {@code kernel} (a method name of this class). */
    public static long bytes(String kernel) {
        return switch (kernel) {
            case "softmaxForward" -> 2L * 4 * SOFTMAX_ROWS * SOFTMAX_N;
            case "causalSoftmaxForward" -> 4L * B * H * ((long) T * (T + 1) / 2 + (long) T * T);
            case "layerNormForward" -> 4L * (2L * LN_ROWS * LN_N + 2L * LN_N + 2L * LN_ROWS);
            case "layerNormBackward" -> 4L * (3L * LN_ROWS * LN_N + 3L * LN_N + 2L * LN_ROWS);
            case "geluForward" -> 2L * 4 * GELU_N;
            case "geluBackward" -> 3L * 4 * GELU_N;
            case "adamw" -> 7L * 4 * ADAMW_N;
            case "causalSoftmaxBackward" -> 4L * B * H * ((long) T * (T + 1) + (long) T * T);
            case "gradNorm" -> 4L * ADAMW_N;
            case "add" -> 3L * 4 * ADD_N;
            case "columnSums" -> 4L * (B * T * (long) COLUMNS + COLUMNS);
            default -> throw new IllegalArgumentException("unknown kernel " + kernel);
        };
    }

    /** Average time per call in µs to GB/s (1e9 bytes per second). */
    public static double gbPerSecond(long bytes, double microsPerCall) {
        return bytes / (microsPerCall * 1e3);
    }

    // softmax
    private float[] smX, smY;
    // layer norm: forward output and statistics, backward inputs and outputs
    private float[] lnX, lnW, lnB, lnY, lnMean, lnRstd, lnG, lnDx, lnDw, lnDb;
    // GELU
    private float[] gX, gG, gY, gDx;
    // AdamW
    private float[] p, grad, m, v;

    /** Deterministic inputs; each array filled once, so the kernels see the same data in every fork. */
    @Setup(Level.Trial)
    public void setup() {
        smX = filled(SOFTMAX_ROWS * SOFTMAX_N, 1, 4f); // logits of a few units, like scaled attention scores
        smY = new float[SOFTMAX_ROWS * SOFTMAX_N];

        lnX = filled(LN_ROWS * LN_N, 2, 2f);
        lnW = filled(LN_N, 3, 0.2f);
        for (int i = 0; i < LN_N; i++) lnW[i] += 1f; // near 1, as a trained LN weight is
        lnB = filled(LN_N, 4, 0.2f);
        lnY = new float[LN_ROWS * LN_N];
        lnMean = new float[LN_ROWS];
        lnRstd = new float[LN_ROWS];
        lnG = filled(LN_ROWS * LN_N, 5, 1f);
        lnDx = new float[LN_ROWS * LN_N];
        lnDw = new float[LN_N];
        lnDb = new float[LN_N];
        layerNormForward(); // the statistics backward reads

        gX = filled(GELU_N, 6, 6f);
        gG = filled(GELU_N, 7, 1f);
        gY = new float[GELU_N];
        gDx = new float[GELU_N];

        p = filled(ADAMW_N, 8, 0.04f);
        grad = filled(ADAMW_N, 9, 0.02f);
        m = new float[ADAMW_N];
        v = new float[ADAMW_N];
    }

    /** Values in [-scale/2, scale/2), from the same generator as the GEMM inputs. */
    static float[] filled(int n, long seed, float scale) {
        float[] x = new float[n];
        GemmBenchmark.fill(x, seed);
        for (int i = 0; i < n; i++) x[i] *= scale;
        return x;
    }

    @Benchmark
    public float[] softmaxForward() {
        Softmax.forward(smX, 0, smY, 0, SOFTMAX_ROWS, SOFTMAX_N);
        return smY;
    }

    /** What attention runs (ops/Attention): scale and causal mask fused into the softmax, on [B·H, T, T]. */
    @Benchmark
    public float[] causalSoftmaxForward() {
        Softmax.causalForward(smX, 0, smY, 0, B * H, T, 0.125f); // scale 1/sqrt(head dim 64)
        return smY;
    }

    @Benchmark
    public float[] layerNormForward() {
        LayerNormKernel.forward(lnX, 0, lnW, 0, lnB, 0, 1e-5f, lnY, 0, lnMean, lnRstd, 0, LN_ROWS, LN_N);
        return lnY;
    }

    @Benchmark
    public void layerNormBackward(Blackhole bh) {
        LayerNormKernel.backward(lnX, 0, lnW, 0, lnMean, lnRstd, 0, lnG, 0, lnDx, 0, lnDw, 0, lnDb, 0, LN_ROWS, LN_N);
        bh.consume(lnDx);
        bh.consume(lnDw);
        bh.consume(lnDb);
    }

    @Benchmark
    public float[] geluForward() {
        Gelu.forward(gX, 0, gY, 0, GELU_N);
        return gY;
    }

    @Benchmark
    public float[] geluBackward() {
        Gelu.backward(gX, 0, gG, 0, gDx, 0, GELU_N);
        return gDx;
    }

    /**
     * The fixed gradient drives m and v to steady values and p to a bounded fixed point under weight decay, so
     * repeated calls neither overflow nor drift into subnormals. A constant step number keeps the bias correction
     * constant; its cost (two pow calls per call) is negligible next to 4.9M elements.
     */
    @Benchmark
    public float[] adamw() {
        AdamWKernel.step(p, 0, grad, 0, m, 0, v, 0, ADAMW_N, 3e-4, 0.9, 0.95, 1e-8, 0.1, 100);
        return p;
    }
}
