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
 * {@code cblas_sgemm} on heap {@code float[]} arrays in place: the JNI code JavaCPP generates for this class pins
 * each array with {@code GetPrimitiveArrayCritical} ({@link CriticalRegion}), which on HotSpot hands out the array
 * itself rather than a copy, and releases the read-only operands ({@link Const}) with {@code JNI_ABORT}, so nothing is
 * copied in either direction. The element offsets are added in C ({@code memwall_sgemm.h} next to this class's
 * resources), since an array arrives as a pointer to its first element.
 *
 * <p>While the call runs the garbage collector waits (that is what a critical region is), so the region holds nothing
 * but the BLAS call: every argument and bound must be checked before calling, as {@code dev.memwall.kernels.Gemm}
 * does — an index out of range here is not an exception but memory corruption.
 *
 * <p>The native library is built by the JavaCPP Maven plugin in the {@code native-gemm} profile of the autograd
 * module, active only where a C++ compiler exists; it inherits the OpenBLAS preset the project already uses (its
 * headers and the OpenBLAS library it loads first). {@link #load()} fails with {@link UnsatisfiedLinkError} where it
 * was not built.
 */
@Properties(inherit = openblas_nolapack.class, value = @Platform(include = "memwall_sgemm.h", library = "jnimemwall_sgemm"))
@NoException
public final class SgemmCritical implements LoadEnabled {
    /** JavaCPP instantiates the class to call {@link #init}; there is nothing else to construct. */
    public SgemmCritical() {
    }

    /**
     * At build time, links against the OpenBLAS file the platform jar ships ({@code libopenblas.so.0}, whose soname is
     * the same): the inherited preset names {@code openblas_nolapack}, a file only JavaCPP's loader creates (a renamed
     * copy) at run time. The library then records {@code libopenblas.so.0} as its dependency, which the dynamic linker
     * matches by soname to the OpenBLAS the preset has already loaded, so there is one OpenBLAS in the process and
     * {@code blas_set_num_threads} applies to this binding too. At run time the inherited settings stay as they are.
     */
    @Override
    public void init(ClassProperties properties) {
        if (Loader.isLoadLibraries()) return;
        properties.get("platform.link").replaceAll(l -> l.startsWith("openblas_nolapack") ? ":libopenblas.so.0" : l);
    }

    /** Loads OpenBLAS and this binding's native library; throws {@link UnsatisfiedLinkError} if either is missing. */
    public static void load() {
        Loader.load(SgemmCritical.class);
    }

    /**
     * C[offC..] = alpha · op(A) · op(B) + beta · C, row-major, op(A) m×k and op(B) k×n, with leading dimensions lda,
     * ldb, ldc. Unchecked: the caller guarantees every index it implies lies inside its array.
     */
    @CriticalRegion
    public static native void memwall_sgemm(boolean transA, boolean transB, int m, int n, int k, float alpha,
                                            @Const float[] a, int offA, int lda, @Const float[] b, int offB, int ldb,
                                            float beta, float[] c, int offC, int ldc);
}
