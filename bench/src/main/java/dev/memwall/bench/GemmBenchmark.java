package dev.memwall.bench;

import dev.memwall.kernels.Gemm;
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

import java.util.concurrent.TimeUnit;

import static org.bytedeco.openblas.global.openblas_nolapack.CblasNoTrans;
import static org.bytedeco.openblas.global.openblas_nolapack.CblasRowMajor;
import static org.bytedeco.openblas.global.openblas_nolapack.CblasTrans;
import static org.bytedeco.openblas.global.openblas_nolapack.cblas_sgemm;

/**
 * Every GEMM of one training step of the benchmark GPT ({@code GptConfig.benchmark()}: D=256, H=4, head dim 64, MLP
 * 4·D, vocab 256, run at B=16, T=128, so M = B·T = 2048 rows), through {@link Gemm} ({@code memwall}) and through
 * OpenBLAS's {@code cblas_sgemm} on the same heap arrays via JavaCPP's {@code float[]} overload ({@code openblas}).
 * Both end in the same OpenBLAS kernel, so the difference is what it costs to get heap data to it and back.
 *
 * <p><b>Shape strings</b>: {@code [batch@]MxKxN[:AB]}, C[M,N] = op(A)[M,K] · op(B)[K,N]; {@code A}, {@code B} are
 * {@code N} (as stored) or {@code T} (transposed). Defaults: batch 1, {@code NN}. The flags follow what
 * {@code ops/MatMul} actually issues. A Linear is y = x·Wᵀ with W [N,K], so:
 * <ul>
 *   <li>forward y[M,N] = x[M,K]·Wᵀ: {@code MxKxN:NT};</li>
 *   <li>dX[M,K] = dY[M,N]·W[N,K]: {@code MxNxK:NN};</li>
 *   <li>dW[N,K] = dYᵀ[N,M]·x[M,K]: {@code NxMxK:TN} (one GEMM over all B·T rows: the weight is shared).</li>
 * </ul>
 * Attention runs per (batch, head), 64 = B·H entries: scores = q·kᵀ is {@code 64@128x64x128:NT} and its backward
 * dq = dS·k is {@code 64@128x128x64:NN}, dk = dSᵀ·q is {@code 64@128x128x64:TN}; y = P·v is {@code 64@128x128x64:NN}
 * and its backward dP = dY·vᵀ is {@code 64@128x64x128:NT}, dv = Pᵀ·dY is {@code 64@128x128x64:TN}.
 *
 * <p>Calls per training step (6 layers): each qkv/fc/out form 6×, the 256x256 Linear forms 7× (proj 6×, head 1×),
 * each attention form 12× (two uses per layer). Weight by these to get time per step.
 *
 * <p><b>GFLOP/s</b> = {@link #flops(String)} / (score in µs · 1e3), flops = 2·batch·M·N·K; see {@link Report}.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"-Xms1g", "-Xmx1g", "-XX:+UseParallelGC"})
public class GemmBenchmark {
    @Param({
            // Linear forward, y = x·Wᵀ: qkv, proj and LM head (vocab 256), fc, out
            "2048x256x768:NT", "2048x256x256:NT", "2048x256x1024:NT", "2048x1024x256:NT",
            // Linear backward, dX = dY·W
            "2048x768x256:NN", "2048x256x256:NN", "2048x1024x256:NN", "2048x256x1024:NN",
            // Linear backward, dW = dYᵀ·X
            "768x2048x256:TN", "256x2048x256:TN", "1024x2048x256:TN", "256x2048x1024:TN",
            // Attention, batched over B·H = 64: q·kᵀ and dY·vᵀ; att·v and dS·k; dSᵀ·q and Pᵀ·dY
            "64@128x64x128:NT", "64@128x128x64:NN", "64@128x128x64:TN",
    })
    public String shape;

    private Shape s;
    /** Flat operands for {@link Gemm}: batch entries back to back, as a [B·H, T, hd] tensor stores them. */
    private float[] a, b, c;
    /** One array per batch entry for the direct call: JavaCPP's array overload has no offset. */
    private float[][] as, bs, cs;

    /** A parsed shape string; sizes as in {@code cblas_sgemm}. */
    record Shape(int batch, int m, int k, int n, boolean transA, boolean transB) {
        static Shape parse(String str) {
            String t = str.trim();
            int batch = 1;
            int at = t.indexOf('@');
            if (at >= 0) {
                batch = Integer.parseInt(t.substring(0, at));
                t = t.substring(at + 1);
            }
            boolean ta = false, tb = false;
            int colon = t.indexOf(':');
            if (colon >= 0) {
                String f = t.substring(colon + 1).toUpperCase();
                if (!f.matches("[NT][NT]")) throw new IllegalArgumentException("flags must be NN/NT/TN/TT: " + str);
                ta = f.charAt(0) == 'T';
                tb = f.charAt(1) == 'T';
                t = t.substring(0, colon);
            }
            String[] d = t.split("x");
            if (d.length != 3) throw new IllegalArgumentException("expected [batch@]MxKxN[:AB], got " + str);
            return new Shape(batch, Integer.parseInt(d[0]), Integer.parseInt(d[1]), Integer.parseInt(d[2]), ta, tb);
        }

        int sizeA() {
            return m * k;
        }

        int sizeB() {
            return k * n;
        }

        int sizeC() {
            return m * n;
        }

        double flops() {
            return 2.0 * batch * m * n * k;
        }
    }

    /** Floating-point operations of one call of {@code shape}: 2·batch·M·N·K (a multiply and an add per term). */
    public static double flops(String shape) {
        return Shape.parse(shape).flops();
    }

    /** Deterministic values in [-0.5, 0.5): the same inputs in every fork and for both implementations. */
    static void fill(float[] x, long seed) {
        long h = seed * 0x9E3779B97F4A7C15L;
        for (int i = 0; i < x.length; i++) {
            h = h * 6364136223846793005L + 1442695040888963407L;
            x[i] = ((h >>> 40) & 0xFFFF) / 65536f - 0.5f;
        }
    }

    @Setup(Level.Trial)
    public void setup() {
        s = Shape.parse(shape);
        a = new float[s.batch() * s.sizeA()];
        b = new float[s.batch() * s.sizeB()];
        c = new float[s.batch() * s.sizeC()];
        fill(a, 1);
        fill(b, 2);
        as = new float[s.batch()][];
        bs = new float[s.batch()][];
        cs = new float[s.batch()][];
        for (int i = 0; i < s.batch(); i++) {
            as[i] = java.util.Arrays.copyOfRange(a, i * s.sizeA(), (i + 1) * s.sizeA());
            bs[i] = java.util.Arrays.copyOfRange(b, i * s.sizeB(), (i + 1) * s.sizeB());
            cs[i] = new float[s.sizeC()];
        }
        check();
    }

    /** Both paths must compute the same product, or the comparison means nothing. Runs once per trial. */
    private void check() {
        memwall();
        openblas();
        double maxDiff = 0, maxAbs = 0;
        for (int i = 0; i < s.batch(); i++) {
            for (int j = 0; j < s.sizeC(); j++) {
                maxDiff = Math.max(maxDiff, Math.abs(c[i * s.sizeC() + j] - cs[i][j]));
                maxAbs = Math.max(maxAbs, Math.abs(cs[i][j]));
            }
        }
        if (maxAbs == 0 || maxDiff > 1e-4 * maxAbs) {
            throw new IllegalStateException("memwall and openblas disagree on " + shape + ": max |diff| " + maxDiff
                    + ", max |c| " + maxAbs);
        }
    }

    /**
     * C = op(A)·op(B) through the project's GEMM, on the path this JVM takes ({@code Gemm.path()}: no copies where the
     * binding is built, else staged through native buffers; {@code -jvmArgsAppend -Dmemwall.gemm=staged} forces it).
     */
    private float[] memwall() {
        if (s.batch() == 1) {
            Gemm.sgemm(s.transA(), s.transB(), s.m(), s.n(), s.k(), 1f, a, 0, b, 0, 0f, c, 0);
        } else {
            Gemm.sgemmBatched(s.batch(), s.transA(), s.transB(), s.m(), s.n(), s.k(), 1f,
                    a, 0, s.sizeA(), b, 0, s.sizeB(), 0f, c, 0, s.sizeC());
        }
        return c;
    }

    /** C = op(A)·op(B) with JavaCPP marshalling the heap arrays itself (copy in and out of all three per call). */
    private float[][] openblas() {
        int ta = s.transA() ? CblasTrans : CblasNoTrans, tb = s.transB() ? CblasTrans : CblasNoTrans;
        int lda = s.transA() ? s.m() : s.k(), ldb = s.transB() ? s.k() : s.n();
        for (int i = 0; i < s.batch(); i++) {
            cblas_sgemm(CblasRowMajor, ta, tb, s.m(), s.n(), s.k(), 1f, as[i], lda, bs[i], ldb, 0f, cs[i], s.n());
        }
        return cs;
    }

    /**
     * Each side runs OpenBLAS the way it would be used: the raw baseline with OpenBLAS's own threads (one per core, its
     * default), memwall with OpenBLAS single-threaded and the GEMM split over the project's kernel threads.
     */
    @Setup(Level.Iteration)
    public void threads(org.openjdk.jmh.infra.BenchmarkParams params) {
        boolean raw = params.getBenchmark().endsWith(".openblas");
        org.bytedeco.openblas.presets.openblas_nolapack.blas_set_num_threads(raw ? Runtime.getRuntime().availableProcessors() : 1);
    }

    @Benchmark
    public void memwall(Blackhole bh) {
        bh.consume(memwall());
    }

    @Benchmark
    public void openblas(Blackhole bh) {
        bh.consume(openblas());
    }
}
