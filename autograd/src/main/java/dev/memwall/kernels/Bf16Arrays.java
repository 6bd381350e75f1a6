package dev.memwall.kernels;

import dev.memwall.format.Bf16;
import dev.memwall.format.Overflow;
import dev.memwall.kernels.blas.Bf16Convert;

import java.util.Locale;
import java.util.Objects;

/**
 * FP32 ↔ BF16 conversion of array ranges, bit for bit {@link Bf16#fromFloat} and {@link Bf16#toFloat} element by
 * element, on the fastest path this process has:
 * <ul>
 *   <li>{@link Path#NATIVE}: {@link Bf16Convert}, branch-free integer loops vectorized by g++ for AVX-512 F where
 *       {@code /proc/cpuinfo} lists it, else for plain x86-64 (about ten times the Java loop on an AVX-512 CPU: JDK 17's C2 vectorizes neither {@code Float.floatToRawIntBits} nor the narrowing
 *       to {@code short}). Built where g++ exists at build time; loads on any x86-64 CPU.</li>
 *   <li>{@link Path#JAVA}: {@link Bf16#encode} and {@link Bf16#decode}, one element at a time.</li>
 * </ul>
 * Both are split over the kernel threads ({@link Parallel#range}) when the range is large. Autocast converts every
 * GEMM operand and every activation it keeps in BF16 through here ({@code Tensor.to}), so this is the cost of a cast.
 * {@code -Dmemwall.bf16convert=native|java} forces a path (native where the library is missing is an error naming
 * why); unset, native when it loads.
 */
public final class Bf16Arrays {
    /** How a conversion runs. */
    public enum Path {
        /** memwall's native loops ({@link Bf16Convert}). */
        NATIVE,
        /** The Java loops of {@link Bf16}. */
        JAVA
    }

    /** System property that forces a path: {@code native} or {@code java}. */
    public static final String PROPERTY = "memwall.bf16convert";
    /** Below this many elements a range converts in Java: the pinned native call costs about as much. */
    static final int NATIVE_MIN = 256;
    /** Element-operations per element for {@link Parallel#range}: a range of 16 Ki elements and more is split. */
    private static final long COST = 4;
    /** The native loops' AVX-512 variant only where the CPU has it (read once from /proc/cpuinfo). */
    private static final boolean AVX512 = CpuFeatures.avx512f();

    private Bf16Arrays() {
    }

    private static final class Chosen {
        static final Path PATH = choose(System.getProperty(PROPERTY), missing());
    }

    /** The path this process's conversions take. */
    public static Path path() {
        return Chosen.PATH;
    }

    /** The path for {@code -Dmemwall.bf16convert} ({@code null}: unset) when the native library is {@code missing} (null: loads). */
    static Path choose(String property, String missing) {
        String p = property == null ? "auto" : property.trim().toLowerCase(Locale.ROOT);
        return switch (p) {
            case "auto" -> missing == null ? Path.NATIVE : Path.JAVA;
            case "java" -> Path.JAVA;
            case "native" -> {
                if (missing != null) throw new IllegalStateException("-D" + PROPERTY + "=native but " + missing);
                yield Path.NATIVE;
            }
            default -> throw new IllegalArgumentException("-D" + PROPERTY + " must be native or java, got '" + property + "'");
        };
    }

    private static boolean tried;
    private static String missing;

    /** Why the native conversion cannot run in this process, or null when it can. Loads the library once. */
    public static synchronized String missing() {
        if (!tried) {
            tried = true;
            try {
                Bf16Convert.load();
            } catch (LinkageError | RuntimeException e) { // no library, or (another class path) no JavaCPP Loader
                missing = "the BF16 conversion library " + Bf16Convert.class.getName() + " could not be loaded (" + e
                        + "); it (libjnimemwall_bf16convert.so) is built only where a C++ compiler (/usr/bin/g++) exists at build time";
            }
        }
        return missing;
    }

    /** {@code dst[dstOff + i] = Bf16.fromFloat(src[srcOff + i], mode)} for {@code i < n}, on this process's path. */
    public static void encode(float[] src, int srcOff, short[] dst, int dstOff, int n, Overflow mode) {
        encode(path(), src, srcOff, dst, dstOff, n, mode);
    }

    /** {@code dst[dstOff + i] = Bf16.toFloat(src[srcOff + i])} for {@code i < n}, on this process's path. */
    public static void decode(short[] src, int srcOff, float[] dst, int dstOff, int n) {
        decode(path(), src, srcOff, dst, dstOff, n);
    }

    /** {@link #encode} on the given path (tests compare the paths; {@link Path#NATIVE} needs {@link #missing()} null). */
    public static void encode(Path path, float[] src, int srcOff, short[] dst, int dstOff, int n, Overflow mode) {
        Objects.requireNonNull(mode, "mode");
        Objects.checkFromIndexSize(srcOff, n, src.length);
        Objects.checkFromIndexSize(dstOff, n, dst.length);
        boolean viaNative = nativeFor(path, n);
        boolean saturate = mode == Overflow.SATURATE;
        Parallel.range(n, COST, (from, to) -> {
            if (viaNative) Bf16Convert.memwall_bf16_encode(src, srcOff + from, dst, dstOff + from, to - from, saturate, AVX512);
            else Bf16.encode(src, srcOff + from, dst, dstOff + from, to - from, mode);
        });
    }

    /** {@link #decode} on the given path. */
    public static void decode(Path path, short[] src, int srcOff, float[] dst, int dstOff, int n) {
        Objects.checkFromIndexSize(srcOff, n, src.length);
        Objects.checkFromIndexSize(dstOff, n, dst.length);
        boolean viaNative = nativeFor(path, n);
        Parallel.range(n, COST, (from, to) -> {
            if (viaNative) Bf16Convert.memwall_bf16_decode(src, srcOff + from, dst, dstOff + from, to - from, AVX512);
            else Bf16.decode(src, srcOff + from, dst, dstOff + from, to - from);
        });
    }

    private static boolean nativeFor(Path path, int n) {
        Objects.requireNonNull(path, "path");
        if (path == Path.NATIVE && missing() != null) throw new IllegalStateException("native BF16 conversion: " + missing());
        return path == Path.NATIVE && n >= NATIVE_MIN;
    }
}
