package dev.memwall.kernels;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;

/**
 * CPU features as the Linux kernel reports them (the {@code flags} line of {@code /proc/cpuinfo}), read once. Used to
 * decide whether a BF16 GEMM should run natively: only a CPU with BF16 dot-product instructions makes
 * {@code cblas_sbgemm} worth calling, and only AVX512-BF16 runs memwall's own kernel (see {@link Sbgemm}).
 */
final class CpuFeatures {
    /** The kernel's names for BF16 arithmetic: AVX-512 BF16 (Cooper Lake, Sapphire Rapids, Zen 4/5) and AMX-BF16. */
    static final List<String> BF16_FLAGS = List.of("avx512_bf16", "amx_bf16");

    /** What memwall's own BF16 GEMM ({@code kernels/blas/Avx512Bf16Gemm}) executes: vdpbf16ps and AVX-512 F/BW. */
    static final List<String> AVX512_BF16_FLAGS = List.of("avx512f", "avx512bw", "avx512_bf16");

    private static final List<String> CPUINFO = read(Path.of("/proc/cpuinfo"));
    private static final boolean BF16 = hasBf16(CPUINFO);
    private static final boolean AVX512_BF16 = hasAvx512Bf16(CPUINFO);
    private static final boolean AVX512F = flags(CPUINFO).contains("avx512f");

    private CpuFeatures() {
    }

    /** Whether this machine's CPU reports BF16 arithmetic (false where {@code /proc/cpuinfo} cannot be read). */
    static boolean bf16() {
        return BF16;
    }

    /**
     * Whether this machine's CPU reports AVX512-BF16 with AVX-512 F and BW, what memwall's own BF16 GEMM runs on
     * (false on AVX-512 Xeons without BF16, and where {@code /proc/cpuinfo} cannot be read).
     */
    static boolean avx512Bf16() {
        return AVX512_BF16;
    }

    /** Whether this machine's CPU reports AVX-512 F (what the native BF16 conversion's wide loop needs). */
    static boolean avx512f() {
        return AVX512F;
    }

    static boolean hasAvx512Bf16(List<String> cpuinfo) {
        return flags(cpuinfo).containsAll(AVX512_BF16_FLAGS);
    }

    /** The flags of the first processor listed in {@code cpuinfo} (empty if there is no {@code flags} line). */
    static Set<String> flags(List<String> cpuinfo) {
        for (String line : cpuinfo) {
            int colon = line.indexOf(':');
            if (colon < 0 || !line.substring(0, colon).trim().equals("flags")) continue;
            String value = line.substring(colon + 1).trim();
            return value.isEmpty() ? Set.of() : Set.copyOf(java.util.Arrays.asList(value.split("\\s+")));
        }
        return Set.of();
    }

    static boolean hasBf16(List<String> cpuinfo) {
        Set<String> flags = flags(cpuinfo);
        return BF16_FLAGS.stream().anyMatch(flags::contains);
    }

    private static List<String> read(Path cpuinfo) {
        try {
            return Files.readAllLines(cpuinfo);
        } catch (IOException | RuntimeException e) { // not Linux, or not readable: no feature is assumed
            return List.of();
        }
    }
}
