package dev.memwall.kernels.blas;

import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.annotation.Const;
import org.bytedeco.javacpp.annotation.CriticalRegion;
import org.bytedeco.javacpp.annotation.NoException;
import org.bytedeco.javacpp.annotation.Platform;

/**
 * memwall's own BF16 GEMM for CPUs with AVX512-BF16 ({@code memwall_bf16gemm.h}: {@code vdpbf16ps} on A and B packed
 * into pair-interleaved panels, a 12×32 register-blocked micro-kernel, blocking over k, m and n), on heap arrays in
 * place as {@link SgemmCritical} does: each array is pinned for the call ({@link CriticalRegion}), the read-only
 * operands ({@link Const}) are released with {@code JNI_ABORT}, offsets are added in C. Single-threaded; BF16 A and B
 * (bit patterns in {@code short[]}), FP32 C, FP32 accumulation.
 *
 * <p>It stands where OpenBLAS's {@code cblas_sbgemm} would, which neither OpenBLAS build the project can load
 * defines. It needs no BLAS: the library is plain C++ whose kernel functions are compiled for AVX-512 F/BW/BF16 through
 * target attributes, so it loads on any x86-64 CPU, and {@code dev.memwall.kernels.Sbgemm} calls it only where
 * {@code /proc/cpuinfo} lists {@code avx512_bf16}. Built by the autograd module's {@code native-gemm} profile (where g++
 * exists); a compiler without the AVX512-BF16 intrinsics builds a stub for which {@link #memwall_bf16gemm_compiled()}
 * is false. {@link #load()} throws {@link UnsatisfiedLinkError} where the library was not built.
 *
 * <p>While the call runs the garbage collector waits, so every argument and bound must be checked before calling —
 * an index out of range here is memory corruption, not an exception.
 */
@Platform(include = "memwall_bf16gemm.h", library = "jnimemwall_bf16gemm")
@NoException
public final class Avx512Bf16Gemm {
    private Avx512Bf16Gemm() {
    }

    /** Loads the native library; throws {@link UnsatisfiedLinkError} if it is missing. */
    public static void load() {
        Loader.load(Avx512Bf16Gemm.class);
    }

    /** Whether the compiler that built the library had the AVX512-BF16 intrinsics (false: the kernel is a stub). */
    public static native boolean memwall_bf16gemm_compiled();

    /** Elements of the {@code short[]} packing buffer {@link #memwall_bf16gemm} needs for these sizes. */
    public static native long memwall_bf16gemm_workspace(int m, int n, int k);

    /**
     * C[offC..] = alpha · op(A) · op(B) + beta · C, row-major, op(A) m×k and op(B) k×n in bfloat16, C in float, with
     * leading dimensions lda, ldb, ldc; {@code work} holds at least {@link #memwall_bf16gemm_workspace} elements
     * from {@code offWork} (overwritten: the packed panels). Unchecked: the caller guarantees a CPU with AVX512-BF16, {@link #memwall_bf16gemm_compiled()},
     * m, n, k ≥ 1 and that every index the call implies lies inside its array.
     */
    @CriticalRegion
    public static native void memwall_bf16gemm(boolean transA, boolean transB, int m, int n, int k, float alpha,
                                               @Const short[] a, int offA, int lda, @Const short[] b, int offB, int ldb,
                                               float beta, float[] c, int offC, int ldc, short[] work,
                                               int offWork);
}
