package dev.memwall.kernels;

import dev.memwall.format.Bf16;
import dev.memwall.kernels.blas.SbgemmCritical;

import java.util.Locale;
import java.util.function.Supplier;

/**
 * BF16 GEMM with FP32 accumulation — {@link Gemm#sbgemm} — on one of two paths that compute the same thing: every
 * product of two bfloat16 values is exact in FP32 (8-bit significands, 16-bit product), so both are BF16 products
 * summed in FP32, and differ only in the order of that summation.
 * <ul>
 *   <li>{@link Path#NATIVE}: OpenBLAS's {@code cblas_sbgemm} on the heap arrays in place ({@link SbgemmCritical},
 *       split over the kernel threads by {@link CriticalSbgemm}). Nothing is decoded or copied.</li>
 *   <li>{@link Path#DECODE}: A and B are decoded to FP32 (appending 16 zero bits, exact) into this thread's
 *       workspace ({@link GemmWorkspace}, counted as WORKSPACE: 4·(m·k + k·n) bytes at most, kept until the thread's
 *       outermost scope closes) and multiplied with {@link Gemm#sgemm}.</li>
 * </ul>
 *
 * <p><b>Which one.</b> Native only where the CPU reports BF16 arithmetic ({@code avx512_bf16} or {@code amx_bf16} in
 * {@code /proc/cpuinfo}, read once): OpenBLAS's sbgemm on a CPU without it runs a generic kernel about ten times
 * slower than its sgemm (OpenBLAS issue #4673, on AVX-512 Xeons without BF16), which decoding and calling sgemm
 * avoids. Native also needs the binding (built where g++ exists) and an OpenBLAS that defines {@code cblas_sbgemm}
 * (built with {@code BUILD_BFLOAT16=1}; {@code org.bytedeco:openblas:0.3.31-1.5.13}, the project's, is not). Anything
 * missing means decode. {@code -Dmemwall.sbgemm=native} or {@code =decode} forces a path ({@code native} where it
 * cannot run is an error naming what is missing; on a CPU without BF16 it runs, slowly, which is how to measure it).
 */
public final class Sbgemm {
    /** How a BF16 GEMM is computed. */
    public enum Path {
        /** OpenBLAS {@code cblas_sbgemm} on the BF16 operands in place. */
        NATIVE,
        /** BF16 operands decoded to FP32, then {@code sgemm}. */
        DECODE
    }

    /** System property that forces a path: {@code native} or {@code decode}. */
    public static final String PROPERTY = "memwall.sbgemm";

    private static boolean nativeTried;
    private static String nativeMissing;

    private Sbgemm() {
    }

    /** Holds the process's choice, made on first use. */
    private static final class Chosen {
        static final Path PATH = choose(System.getProperty(PROPERTY), CpuFeatures.bf16(), Sbgemm::nativeMissing);
    }

    /** The path this process's BF16 GEMMs take. */
    public static Path path() {
        return Chosen.PATH;
    }

    /** Whether this machine's CPU reports BF16 arithmetic ({@code avx512_bf16} or {@code amx_bf16}). */
    public static boolean cpuHasBf16() {
        return CpuFeatures.bf16();
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
     * The path for the value of {@code -Dmemwall.sbgemm} ({@code null}: not set) on a CPU with or without BF16;
     * {@code nativeMissing} is asked only when native is wanted (so forcing decode never loads the binding).
     */
    static Path choose(String forced, boolean cpuBf16, Supplier<String> nativeMissing) {
        String f = forced == null ? "" : forced.trim().toLowerCase(Locale.ROOT);
        switch (f) {
            case "" -> {
                return cpuBf16 && nativeMissing.get() == null ? Path.NATIVE : Path.DECODE;
            }
            case "decode" -> {
                return Path.DECODE;
            }
            case "native" -> {
                String missing = nativeMissing.get();
                if (missing != null) {
                    throw new IllegalStateException("-D" + PROPERTY + "=native, but " + missing + "; use -D"
                            + PROPERTY + "=decode (BF16 decoded to FP32, then sgemm: the same products and FP32 sums)");
                }
                return Path.NATIVE;
            }
            default -> throw new IllegalArgumentException("-D" + PROPERTY + " must be native or decode, not '" + forced + "'");
        }
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
        if (path == Path.NATIVE) {
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
            for (int r = r0; r < r1; r++) Bf16.decode(src, off + r * ld, dst, r * cols, cols);
        });
    }
}
