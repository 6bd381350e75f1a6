package dev.memwall.kernels.blas;

import org.bytedeco.javacpp.ClassProperties;
import org.bytedeco.javacpp.LoadEnabled;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.annotation.Const;
import org.bytedeco.javacpp.annotation.CriticalRegion;
import org.bytedeco.javacpp.annotation.NoException;
import org.bytedeco.javacpp.annotation.Platform;
import org.bytedeco.javacpp.annotation.Properties;
import org.bytedeco.openblas.presets.openblas_nolapack;

/**
 * OpenBLAS's {@code cblas_sbgemm} — bfloat16 A and B (the upper halves of floats, as {@code short[]} bit patterns),
 * float C — on heap arrays in place, in the same way as {@link SgemmCritical}: each array is pinned for the call
 * ({@link CriticalRegion}), the read-only operands ({@link Const}) are released with {@code JNI_ABORT}, and the
 * element offsets are added in C ({@code memwall_sbgemm.h}). Nothing is copied.
 *
 * <p>{@code cblas_sbgemm} is not in the JavaCPP preset's Java API, and OpenBLAS defines it only when built with
 * {@code BUILD_BFLOAT16=1}. The C side therefore looks it up at run time in the OpenBLAS that serves
 * {@code cblas_sgemm} (the one the preset loaded) instead of linking to it: {@link #memwall_sbgemm_available()} says
 * whether it is there. The OpenBLAS of {@code org.bytedeco:openblas:0.3.31-1.5.13} is built without it, so with the
 * project's dependencies as they are this binding loads and reports it missing; it is ready for an OpenBLAS that has
 * it.
 *
 * <p>While the call runs the garbage collector waits, so every argument and bound must be checked before calling,
 * as {@code dev.memwall.kernels.Sbgemm} does — an index out of range here is memory corruption, not an exception.
 * The native library is built by the autograd module's {@code native-gemm} profile (where a C++ compiler exists);
 * {@link #load()} fails with {@link UnsatisfiedLinkError} where it was not built.
 */
@Properties(inherit = openblas_nolapack.class, value = @Platform(include = "memwall_sbgemm.h", library = "jnimemwall_sbgemm"))
@NoException
public final class SbgemmCritical implements LoadEnabled {
    /** JavaCPP instantiates the class to call {@link #init}; there is nothing else to construct. */
    public SbgemmCritical() {
    }

    /** At build time, links against {@code libopenblas.so.0} as {@link SgemmCritical#init} explains. */
    @Override
    public void init(ClassProperties properties) {
        if (Loader.isLoadLibraries()) return;
        properties.get("platform.link").replaceAll(l -> l.startsWith("openblas_nolapack") ? ":libopenblas.so.0" : l);
    }

    /** Loads OpenBLAS and this binding's native library; throws {@link UnsatisfiedLinkError} if either is missing. */
    public static void load() {
        Loader.load(SbgemmCritical.class);
    }

    /** Whether the OpenBLAS in this process defines {@code cblas_sbgemm} (built with {@code BUILD_BFLOAT16=1}). */
    public static native boolean memwall_sbgemm_available();

    /**
     * C[offC..] = alpha · op(A) · op(B) + beta · C, row-major, op(A) m×k and op(B) k×n in bfloat16, C in float, with
     * leading dimensions lda, ldb, ldc (in elements). Unchecked: the caller guarantees that
     * {@link #memwall_sbgemm_available()} is true and that every index the call implies lies inside its array.
     */
    @CriticalRegion
    public static native void memwall_sbgemm(boolean transA, boolean transB, int m, int n, int k, float alpha,
                                             @Const short[] a, int offA, int lda, @Const short[] b, int offB, int ldb,
                                             float beta, float[] c, int offC, int ldc);
}
