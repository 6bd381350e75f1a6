package dev.memwall.kernels.blas;

import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.annotation.Const;
import org.bytedeco.javacpp.annotation.CriticalRegion;
import org.bytedeco.javacpp.annotation.NoException;
import org.bytedeco.javacpp.annotation.Platform;

/**
 * FP32 ↔ BF16 conversion of array ranges in native code ({@code memwall_bf16convert.h}): the same bits as
 * {@code dev.memwall.format.Bf16} element by element, as branch-free integer loops that g++ vectorizes (for AVX-512 F
 * and for plain x86-64; the caller says which the CPU runs). JDK 17's C2 vectorizes neither {@code Float.floatToRawIntBits}
 * nor narrowing to {@code short}, so the Java loop converts one element at a time. Heap arrays are pinned for the call
 * ({@link CriticalRegion}), the source released with {@code JNI_ABORT} ({@link Const}); offsets are added in C.
 * Built by the autograd module's {@code native-gemm} profile (where g++ exists); {@link #load()} throws
 * {@link UnsatisfiedLinkError} where it was not.
 *
 * <p>While the call runs the garbage collector waits, so every bound must be checked before calling — an index out of
 * range here is memory corruption, not an exception.
 */
@Platform(include = "memwall_bf16convert.h", library = "jnimemwall_bf16convert")
@NoException
public final class Bf16Convert {
    private Bf16Convert() {
    }

    /** Loads the native library; throws {@link UnsatisfiedLinkError} if it is missing. */
    public static void load() {
        Loader.load(Bf16Convert.class);
    }

    /**
     * {@code dst[offDst + i] = Bf16.fromFloat(src[offSrc + i], saturate ? SATURATE : NON_SATURATE)}, i &lt; n; the
     * AVX-512 loop when {@code avx512} (only on a CPU that reports avx512f: elsewhere it stops the JVM with SIGILL).
     * Unchecked.
     */
    @CriticalRegion
    public static native void memwall_bf16_encode(@Const float[] src, int offSrc, short[] dst, int offDst, int n,
                                                  boolean saturate, boolean avx512);

    /** {@code dst[offDst + i] = Bf16.toFloat(src[offSrc + i])}, i &lt; n, as {@link #memwall_bf16_encode}. Unchecked. */
    @CriticalRegion
    public static native void memwall_bf16_decode(@Const short[] src, int offSrc, float[] dst, int offDst, int n,
                                                  boolean avx512);
}
