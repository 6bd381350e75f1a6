package dev.memwall.kernels;

import dev.memwall.kernels.blas.Avx512Bf16Gemm;

import java.util.concurrent.atomic.AtomicInteger;

/**
 * memwall's own BF16 GEMM ({@link Avx512Bf16Gemm}, {@code vdpbf16ps}) as a {@link CriticalSbgemm.Kernel}: one
 * single-threaded call per part of the project's split, each part packing into its own slice of one heap
 * {@code short[]} taken from the calling thread's {@link GemmWorkspace} (counted as WORKSPACE, pinned with the operands
 * for the call), so nothing is copied or allocated outside the tracker, and the buffer goes when the caller's outermost
 * scope closes (a kernel thread's own workspace would never be released).
 *
 * <p>The library is loaded only when asked ({@link #missing()}), which {@link Sbgemm} does only on a CPU that
 * reports AVX512-BF16: a Xeon without BF16 never loads it and keeps decode + sgemm.
 */
final class Avx512Sbgemm {
    /**
     * Below this many multiply-adds a call is decoded and handed to sgemm instead. Packing costs about m·k + k·n
     * element moves against m·n·k multiply-adds; measured (BENCHMARKS.md) the kernel beat decode + sgemm at every
     * benchmark shape, the attention's 128×128×64 included, so the limit only keeps GEMV-sized calls off it.
     */
    static final long MIN_WORK = 1L << 15;

    /**
     * The kernel for the parts of one call (at most {@code GemmSplit.parts(g.work())} sub-calls, each no larger than
     * {@code g}): packing buffers for all of them from this (the calling) thread's workspace, one slice per sub-call.
     */
    static CriticalSbgemm.Kernel kernel(SbgemmCall g) {
        int parts = GemmSplit.parts(g.work());
        int perPart = Math.toIntExact(Avx512Bf16Gemm.memwall_bf16gemm_workspace(g.m(), g.n(), g.k()));
        short[] work = GemmWorkspace.forThisThread().packed(Math.multiplyExact(perPart, parts));
        AtomicInteger next = new AtomicInteger();
        return (ta, tb, m, n, k, alpha, a, offA, lda, b, offB, ldb, beta, c, offC, ldc) -> {
            int slot = next.getAndIncrement();
            if (slot >= parts || m > g.m() || n > g.n() || k > g.k()) {
                throw new IllegalStateException("BF16 GEMM sub-call " + slot + " (m=" + m + " n=" + n + " k=" + k
                        + ") does not fit the packing buffers of " + parts + " parts of " + g);
            }
            Avx512Bf16Gemm.memwall_bf16gemm(ta, tb, m, n, k, alpha, a, offA, lda, b, offB, ldb, beta, c, offC, ldc,
                    work, slot * perPart);
        };
    }

    private static boolean tried;
    private static String missing;

    private Avx512Sbgemm() {
    }

    /** Whether a call of these sizes runs on the kernel (else decode + sgemm): see {@link #MIN_WORK}. */
    static boolean worthIt(int m, int n, int k) {
        return (long) m * n * k >= MIN_WORK;
    }

    /**
     * Why the kernel cannot run in this process, or null when it can: the native library must load and must have been
     * compiled with the AVX512-BF16 intrinsics. Loads it once per process. Says nothing about the CPU: ask
     * {@link CpuFeatures#avx512Bf16()} first (on a CPU without it the kernel would stop the JVM with SIGILL).
     */
    static synchronized String missing() {
        if (!tried) {
            tried = true;
            try {
                Avx512Bf16Gemm.load();
                if (!Avx512Bf16Gemm.memwall_bf16gemm_compiled()) {
                    missing = "memwall's AVX512-BF16 GEMM library was built by a compiler without the AVX512-BF16 "
                            + "intrinsics (g++ 10 or later has them)";
                }
            } catch (UnsatisfiedLinkError | RuntimeException e) {
                missing = "memwall's AVX512-BF16 GEMM " + Avx512Bf16Gemm.class.getName() + " could not be loaded ("
                        + e + "); its native library (libjnimemwall_bf16gemm.so) is built only where a C++ compiler "
                        + "(/usr/bin/g++) exists at build time";
            }
        }
        return missing;
    }
}
