package dev.memwall.kernels;

import dev.memwall.kernels.blas.SgemmCritical;
import dev.memwall.memory.Category;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.openblas.global.openblas_nolapack;

import java.util.Locale;

/**
 * Single-precision GEMM through OpenBLAS, on heap arrays with offsets (and optional leading dimensions, so a strided
 * view is multiplied in place).
 *
 * <p>Two paths end in the same {@code cblas_sgemm}:
 * <ul>
 *   <li>{@link Path#CRITICAL} (no copies): the heap arrays are pinned for the call and handed to OpenBLAS in place
 *       through memwall's own JavaCPP binding ({@link SgemmCritical}). Its native library is built only where a C++
 *       compiler was present at build time.</li>
 *   <li>{@link Path#STAGED}: operands are copied into per-thread native buffers and the result copied back
 *       ({@link StagedGemm}); these are counted as {@link Category#WORKSPACE} while held and freed when the thread's
 *       outermost {@code Scope} closes (or by {@link #releaseWorkspace()}).</li>
 * </ul>
 * The binding is loaded once; if it loads, the no-copy path is used, else the staged one. {@code -Dmemwall.gemm=critical}
 * or {@code =staged} forces one ({@code critical} where the binding is missing is an error naming what is missing).
 * Every argument and index is checked before any native code runs ({@link GemmCall#validate()}).
 *
 * <p>OpenBLAS runs single-threaded and the project splits each GEMM over its own kernel threads ({@link Parallel},
 * {@link GemmSplit}): by batch entry, rows or columns of C, or along k. OpenBLAS's own worker threads spin for a while
 * after each call, and on two cores that spinning stole the core the next Java kernel wanted (GELU's backward ran up to
 * ten times slower right after a GEMM); with one set of threads for everything that contention is gone, and the row
 * split measured as fast as OpenBLAS's own threading at the large shapes and faster at 2048×256×256 (BENCHMARKS.md).
 */
public final class Gemm {
    /** Which implementation carries the GEMMs of this process. */
    public enum Path {
        /** Heap arrays handed to OpenBLAS in place (JNI critical region), no staging buffers. */
        CRITICAL,
        /** Operands copied through per-thread native staging buffers. */
        STAGED
    }

    /** System property that forces a path: {@code critical} or {@code staged}. */
    public static final String PROPERTY = "memwall.gemm";

    private static final Path PATH;
    private static boolean bindingTried;
    private static Throwable bindingFailure;

    static {
        Loader.load(openblas_nolapack.class);
        org.bytedeco.openblas.presets.openblas_nolapack.blas_set_num_threads(Integer.getInteger("memwall.blas.threads", 1));
        String forced = System.getProperty(PROPERTY);
        // Forced staging does not touch the binding at all.
        PATH = choose(forced, "staged".equalsIgnoreCase(forced == null ? "" : forced.trim()) ? null : bindingFailure());
    }

    private Gemm() {
    }

    /** The path this process's GEMMs take. */
    public static Path path() {
        return PATH;
    }

    /**
     * Whether this process's GEMM workspace (WORKSPACE bytes) lives outside the Java heap: on the staging path it is
     * mostly native staging buffers; on the no-copy path it is only split-K partial sums, which are heap arrays. Heap
     * sizing that subtracts native bytes from tracked totals asks this first.
     */
    public static boolean workspaceOffHeap() {
        return PATH == Path.STAGED;
    }

    /**
     * Loads the no-copy binding, once per process; returns why it cannot be used, or null when it loaded. (Asking
     * again is not the same as loading again: JavaCPP does not throw a second time for a library it failed to load.)
     */
    static synchronized Throwable bindingFailure() {
        if (!bindingTried) {
            bindingTried = true;
            try {
                SgemmCritical.load();
            } catch (UnsatisfiedLinkError | RuntimeException e) {
                bindingFailure = e;
            }
        }
        return bindingFailure;
    }

    /**
     * The path for the value of {@code -Dmemwall.gemm} ({@code null}: not set) when loading the binding failed with
     * {@code loadFailure} (null: it loaded, or was not tried).
     */
    static Path choose(String forced, Throwable loadFailure) {
        String f = forced == null ? "" : forced.trim().toLowerCase(Locale.ROOT);
        switch (f) {
            case "" -> {
                return loadFailure == null ? Path.CRITICAL : Path.STAGED;
            }
            case "staged" -> {
                return Path.STAGED;
            }
            case "critical" -> {
                if (loadFailure != null) {
                    throw new IllegalStateException("-D" + PROPERTY + "=critical, but the no-copy GEMM binding "
                            + SgemmCritical.class.getName() + " could not be loaded: " + loadFailure
                            + ". Its native library (libjnimemwall_sgemm.so) is built only where a C++ compiler "
                            + "(/usr/bin/g++) exists at build time; rebuild there, or use -D" + PROPERTY + "=staged.",
                            loadFailure);
                }
                return Path.CRITICAL;
            }
            default -> throw new IllegalArgumentException("-D" + PROPERTY + " must be critical or staged, not '" + forced + "'");
        }
    }

    /**
     * Frees this thread's GEMM workspace (staging buffers, split-K partial sums) and stops counting it; {@code Scope}
     * does it when a thread's outermost scope closes. See {@link GemmWorkspace}.
     */
    public static void releaseWorkspace() {
        GemmWorkspace.release();
    }

    /**
     * C[off_c] = alpha * op(A) * op(B) + beta * C, row-major, with op(A) m×k and op(B) k×n. A is stored m×k (k×m when
     * transposed), B k×n (n×k when transposed), C m×n; all dense.
     */
    public static void sgemm(boolean transA, boolean transB, int m, int n, int k, float alpha,
                             float[] a, int offA, float[] b, int offB, float beta, float[] c, int offC) {
        sgemm(transA, transB, m, n, k, alpha, a, offA, transA ? m : k, b, offB, transB ? k : n, beta, c, offC, n);
    }

    /**
     * As {@link #sgemm(boolean, boolean, int, int, int, float, float[], int, float[], int, float, float[], int)}, with
     * the stored rows of A, B and C {@code lda}, {@code ldb}, {@code ldc} floats apart (at least their widths), as in
     * BLAS: a block of a larger row-major matrix is multiplied (or written) in place.
     */
    public static void sgemm(boolean transA, boolean transB, int m, int n, int k, float alpha,
                             float[] a, int offA, int lda, float[] b, int offB, int ldb,
                             float beta, float[] c, int offC, int ldc) {
        run(PATH, new GemmCall(1, transA, transB, m, n, k, alpha, a, offA, lda, 0, b, offB, ldb, 0, beta, c, offC, ldc, 0));
    }

    /**
     * {@code batch} independent GEMMs; operand {@code i} starts at {@code off + i * stride}. A stride of 0 reuses the
     * same operand for every batch entry (a weight shared across the batch). Outputs of the batch must not overlap.
     */
    public static void sgemmBatched(int batch, boolean transA, boolean transB, int m, int n, int k, float alpha,
                                    float[] a, int offA, int strideA, float[] b, int offB, int strideB,
                                    float beta, float[] c, int offC, int strideC) {
        run(PATH, new GemmCall(batch, transA, transB, m, n, k, alpha, a, offA, transA ? m : k, strideA,
                b, offB, transB ? k : n, strideB, beta, c, offC, n, strideC));
    }

    /**
     * BF16 GEMM with FP32 accumulation: C[offC..] = alpha · op(A) · op(B) + beta · C, row-major, op(A) m×k and op(B)
     * k×n, with A and B bfloat16 bit patterns ({@code dev.memwall.format.Bf16}, round to nearest even) and C FP32;
     * rows {@code lda}, {@code ldb}, {@code ldc} elements apart (at least the stored widths). This is the entry point
     * for GEMMs with low-precision inputs (autocast): every product of two BF16 values is exact in FP32, so the result
     * is BF16 products summed in FP32. memwall's own {@code vdpbf16ps} kernel where the CPU reports AVX512_BF16; else
     * OpenBLAS {@code cblas_sbgemm} where the CPU reports BF16 arithmetic and the loaded OpenBLAS has it; else decoded
     * to FP32 and {@link #sgemm} (without BF16 hardware OpenBLAS's sbgemm runs about ten times slower than its sgemm,
     * OpenBLAS #4673). See {@link Sbgemm} for the choice and {@code -Dmemwall.sbgemm=avx512bf16|native|decode}. Every argument is checked before any native code runs.
     */
    public static void sbgemm(boolean transA, boolean transB, int m, int n, int k, float alpha,
                              short[] a, int offA, int lda, short[] b, int offB, int ldb,
                              float beta, float[] c, int offC, int ldc) {
        Sbgemm.run(Sbgemm.path(), new SbgemmCall(transA, transB, m, n, k, alpha, a, offA, lda, b, offB, ldb, beta, c, offC, ldc));
    }

    /** As {@link #sbgemm(boolean, boolean, int, int, int, float, short[], int, int, short[], int, int, float, float[], int, int)}, all operands dense. */
    public static void sbgemm(boolean transA, boolean transB, int m, int n, int k, float alpha,
                              short[] a, int offA, short[] b, int offB, float beta, float[] c, int offC) {
        sbgemm(transA, transB, m, n, k, alpha, a, offA, transA ? m : k, b, offB, transB ? k : n, beta, c, offC, n);
    }

    /**
     * Whether {@link #sbgemm} multiplies BF16 operands in place (memwall's AVX512-BF16 kernel or OpenBLAS's sbgemm)
     * rather than decoding them to FP32 first: then the ops hand BF16 operands straight to it instead of decoding
     * them themselves.
     */
    public static boolean sbgemmInPlace() {
        return Sbgemm.path() != Sbgemm.Path.DECODE;
    }

    /** The path this process's BF16 GEMMs take ({@link Sbgemm#path()}). */
    public static Sbgemm.Path sbgemmPath() {
        return Sbgemm.path();
    }

    /** Runs a call on the given path (tests run both paths in one process). */
    static void run(Path path, GemmCall g) {
        g.validate();
        if (g.m() == 0 || g.n() == 0 || g.batch() == 0) return;
        if (g.k() == 0) {
            scaleC(g);
            return;
        }
        int parts = GemmSplit.parts(g.work());
        GemmSplit split = GemmSplit.chooseSgemm(g.batch(), g.transA(), g.transB(), g.m(), g.n(), g.k(), g.beta(), parts);
        if (path == Path.CRITICAL) CriticalGemm.run(g, split, parts);
        else StagedGemm.run(g, split, parts);
    }

    /** C = beta · C when the inner dimension is empty (BLAS leaves C scaled; beta 0 clears it, NaNs included). */
    private static void scaleC(GemmCall g) {
        float[] c = g.c();
        float beta = g.beta();
        for (int e = 0; e < g.batch(); e++) {
            for (int i = 0; i < g.m(); i++) {
                int o = g.offC() + e * g.strideC() + i * g.ldc();
                for (int j = 0; j < g.n(); j++) c[o + j] = beta == 0f ? 0f : beta * c[o + j];
            }
        }
    }
}
