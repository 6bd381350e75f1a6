package dev.memwall.kernels;

import dev.memwall.kernels.blas.SbgemmCritical;

import java.util.Locale;
import java.util.function.Supplier;

/**
 * BF16 GEMM with FP32 accumulation — {@link Gemm#sbgemm} — on one of three paths that compute the same thing: every
 * product of two bfloat16 values is exact in FP32 (8-bit significands, 16-bit product), so all are BF16 products
 * summed in FP32, and differ only in the order of that summation.
 * <ul>
 *   <li>{@link Path#AVX512_BF16}: memwall's own kernel ({@code kernels/blas/Avx512Bf16Gemm}, {@code vdpbf16ps}) on the
 *       heap arrays in place, split over the kernel threads by {@link CriticalSbgemm}; its packed panels live in the
 *       thread's workspace (WORKSPACE). Calls under {@link Avx512Sbgemm#MIN_WORK} multiply-adds are decoded instead.</li>
 *   <li>{@link Path#NATIVE}: OpenBLAS's {@code cblas_sbgemm} on the heap arrays in place ({@link SbgemmCritical},
 *       split the same way). Nothing is decoded or copied.</li>
 *   <li>{@link Path#DECODE}: A and B are decoded to FP32 (appending 16 zero bits, exact) into this thread's
 *       workspace ({@link GemmWorkspace}, counted as WORKSPACE: 4·(m·k + k·n) bytes at most, kept until the thread's
 *       outermost scope closes) and multiplied with {@link Gemm#sgemm}.</li>
 * </ul>
 *
 * <p><b>Which one.</b> memwall's kernel where {@code /proc/cpuinfo} lists {@code avx512_bf16} (with AVX-512 F and BW)
 * and its library is built; the library is not even loaded elsewhere. Else OpenBLAS's sbgemm where the CPU reports
 * BF16 arithmetic ({@code avx512_bf16} or {@code amx_bf16}) and the loaded OpenBLAS defines it (built with
 * {@code BUILD_BFLOAT16=1}; {@code org.bytedeco:openblas:0.3.31-1.5.13}, the project's, is not): on a CPU without
 * BF16 it runs a generic kernel about ten times slower than its sgemm (OpenBLAS issue #4673). Else decode. A CPU with
 * AVX512-BF16 whose kernel library is missing says so once on the log (INFO) and decodes.
 * {@code -Dmemwall.sbgemm=avx512bf16}, {@code native} or {@code decode} forces a path (a path that cannot run is an
 * error naming what is missing; OpenBLAS's sbgemm on a CPU without BF16 runs, slowly, which is how to measure it).
 */
public final class Sbgemm {
    /** How a BF16 GEMM is computed. */
    public enum Path {
        /** memwall's own AVX512-BF16 kernel ({@code vdpbf16ps}) on the BF16 operands in place. */
        AVX512_BF16,
        /** OpenBLAS {@code cblas_sbgemm} on the BF16 operands in place. */
        NATIVE,
        /** BF16 operands decoded to FP32, then {@code sgemm}. */
        DECODE
    }

    /** System property that forces a path: {@code avx512bf16}, {@code native} or {@code decode}. */
    public static final String PROPERTY = "memwall.sbgemm";

    private static boolean nativeTried;
    private static String nativeMissing;

    private Sbgemm() {
    }

    /** Holds the process's choice, made on first use. */
    private static final class Chosen {
        static final Path PATH = logged(choose(System.getProperty(PROPERTY), CpuFeatures.bf16(), CpuFeatures.avx512Bf16(),
                Avx512Sbgemm::missing, Sbgemm::nativeMissing));
    }

    private static final System.Logger LOG = System.getLogger(Sbgemm.class.getName());

    /** Says which path was chosen; on a CPU with AVX512-BF16 whose kernel is missing, at INFO, with the reason. */
    private static Path logged(Path path) {
        if (path == Path.DECODE && CpuFeatures.avx512Bf16() && Avx512Sbgemm.missing() != null) {
            LOG.log(System.Logger.Level.INFO, "BF16 GEMM: the CPU reports avx512_bf16, but " + Avx512Sbgemm.missing()
                    + "; BF16 GEMMs decode to FP32 and call sgemm (same products, FP32 sums; no BF16 speed-up)");
        } else {
            LOG.log(System.Logger.Level.DEBUG, "BF16 GEMM path: " + path);
        }
        return path;
    }

    /** The path this process's BF16 GEMMs take. */
    public static Path path() {
        return Chosen.PATH;
    }

    /** Whether this machine's CPU reports BF16 arithmetic ({@code avx512_bf16} or {@code amx_bf16}). */
    public static boolean cpuHasBf16() {
        return CpuFeatures.bf16();
    }

    /** Whether this machine's CPU reports AVX512-BF16 (with AVX-512 F and BW), what memwall's own kernel runs on. */
    public static boolean cpuHasAvx512Bf16() {
        return CpuFeatures.avx512Bf16();
    }

    /**
     * Why memwall's AVX512-BF16 kernel cannot run in this process, or null when it can (the CPU reports AVX512-BF16
     * and the library loads, built with the intrinsics). Loads the library only on such a CPU.
     */
    public static String kernelMissing() {
        return CpuFeatures.avx512Bf16() ? Avx512Sbgemm.missing()
                : "this CPU does not report avx512_bf16 (with avx512f and avx512bw) in /proc/cpuinfo";
    }

    /**
     * Why {@code cblas_sbgemm} cannot be called in this process, or null when it can. Loads the binding (and
     * OpenBLAS) once per process.
     */
    public static synchronized String nativeMissing() {
        if (!nativeTried) {
            nativeTried = true;
            Gemm.path(); // OpenBLAS loaded and set single-threaded first, as for every GEMM
            try {
                SbgemmCritical.load();
                if (!SbgemmCritical.memwall_sbgemm_available()) {
                    nativeMissing = "the OpenBLAS in this process does not define cblas_sbgemm (OpenBLAS defines it "
                            + "only when built with BUILD_BFLOAT16=1, and org.bytedeco:openblas 0.3.31-1.5.13 is not)";
                }
            } catch (UnsatisfiedLinkError | RuntimeException e) {
                nativeMissing = "the BF16 GEMM binding " + SbgemmCritical.class.getName() + " could not be loaded ("
                        + e + "); its native library (libjnimemwall_sbgemm.so) is built only where a C++ compiler "
                        + "(/usr/bin/g++) exists at build time";
            }
        }
        return nativeMissing;
    }

    /**
     * The path for the value of {@code -Dmemwall.sbgemm} ({@code null}: not set) on a CPU with or without BF16
     * arithmetic ({@code cpuBf16}) and AVX512-BF16 ({@code cpuAvx512Bf16}); {@code kernelMissing} and
     * {@code nativeMissing} are asked only when their path is wanted and the CPU has what it needs (so a CPU without
     * AVX512-BF16, or forcing decode, never loads memwall's kernel library).
     */
    static Path choose(String forced, boolean cpuBf16, boolean cpuAvx512Bf16, Supplier<String> kernelMissing,
                       Supplier<String> nativeMissing) {
        String f = forced == null ? "" : forced.trim().toLowerCase(Locale.ROOT);
        switch (f) {
            case "" -> {
                if (cpuAvx512Bf16 && kernelMissing.get() == null) return Path.AVX512_BF16;
                return cpuBf16 && nativeMissing.get() == null ? Path.NATIVE : Path.DECODE;
            }
            case "decode" -> {
                return Path.DECODE;
            }
            case "avx512bf16" -> {
                String missing = !cpuAvx512Bf16 ? "this CPU does not report avx512_bf16 (with avx512f and avx512bw) in "
                        + "/proc/cpuinfo" : kernelMissing.get();
                if (missing != null) throw forcedUnavailable("avx512bf16", missing);
                return Path.AVX512_BF16;
            }
            case "native" -> {
                String missing = nativeMissing.get();
                if (missing != null) throw forcedUnavailable("native", missing);
                return Path.NATIVE;
            }
            default -> throw new IllegalArgumentException("-D" + PROPERTY + " must be avx512bf16, native or decode, not '"
                    + forced + "'");
        }
    }

    private static IllegalStateException forcedUnavailable(String value, String missing) {
        return new IllegalStateException("-D" + PROPERTY + "=" + value + ", but " + missing + "; use -D" + PROPERTY
                + "=decode (BF16 decoded to FP32, then sgemm: the same products and FP32 sums)");
    }

    /** Runs a call on the given path (tests run both paths in one process). */
    static void run(Path path, SbgemmCall g) {
        g.validate();
        if (g.m() == 0 || g.n() == 0) return;
        if (g.k() == 0) { // BLAS leaves C scaled by beta; beta 0 clears it, NaNs included
            float[] c = g.c();
            for (int i = 0; i < g.m(); i++) {
                int o = g.offC() + i * g.ldc();
                for (int j = 0; j < g.n(); j++) c[o + j] = g.beta() == 0f ? 0f : g.beta() * c[o + j];
            }
            return;
        }
        if (path == Path.AVX512_BF16 && Avx512Sbgemm.worthIt(g.m(), g.n(), g.k())) {
            String missing = CpuFeatures.avx512Bf16() ? Avx512Sbgemm.missing() : "the CPU does not report avx512_bf16";
            if (missing != null) throw new IllegalStateException("memwall's AVX512-BF16 GEMM unavailable: " + missing);
            CriticalSbgemm.run(g, Avx512Sbgemm.kernel(g));
        } else if (path == Path.NATIVE) {
            String missing = nativeMissing();
            if (missing != null) throw new IllegalStateException("native BF16 GEMM unavailable: " + missing);
            CriticalSbgemm.run(g, CriticalSbgemm.OPENBLAS);
        } else {
            decoded(g);
        }
    }

    /** Decodes the stored A and B into dense FP32 workspace arrays and runs sgemm on them. */
    private static void decoded(SbgemmCall g) {
        GemmWorkspace w = GemmWorkspace.forThisThread();
        int rowsA = g.rowsA(), colsA = g.colsA(), rowsB = g.rowsB(), colsB = g.colsB();
        float[] a = w.decodedA(Math.multiplyExact(rowsA, colsA));
        float[] b = w.decodedB(Math.multiplyExact(rowsB, colsB));
        decode(g.a(), g.offA(), g.lda(), rowsA, colsA, a);
        decode(g.b(), g.offB(), g.ldb(), rowsB, colsB, b);
        Gemm.run(Gemm.path(), new GemmCall(1, g.transA(), g.transB(), g.m(), g.n(), g.k(), g.alpha(),
                a, 0, colsA, 0, b, 0, colsB, 0, g.beta(), g.c(), g.offC(), g.ldc(), 0));
    }

    /** rows×cols BF16 values (rows {@code ld} apart from {@code off}) into {@code dst}, dense. */
    private static void decode(short[] src, int off, int ld, int rows, int cols, float[] dst) {
        Parallel.range(rows, cols, (r0, r1) -> {
            for (int r = r0; r < r1; r++) Bf16Arrays.decode(src, off + r * ld, dst, r * cols, cols);
        });
    }
}
