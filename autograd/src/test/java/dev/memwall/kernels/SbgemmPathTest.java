package dev.memwall.kernels;

import dev.memwall.kernels.blas.SbgemmCritical;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Which BF16 GEMM path a process takes: native only with BF16 hardware and an OpenBLAS that has cblas_sbgemm. */
class SbgemmPathTest {
    private static final String MISSING = "the OpenBLAS in this process does not define cblas_sbgemm";
    private static final String NO_LIBRARY = "memwall's AVX512-BF16 GEMM could not be loaded";
    /** On a CPU without AVX512-BF16 the kernel's library must not even be asked about. */
    private static final java.util.function.Supplier<String> NO_KERNEL = () -> {
        throw new AssertionError("asked whether memwall's AVX512-BF16 kernel can run on a CPU without it");
    };

    /**
     * memwall's own kernel wherever the CPU has AVX512-BF16 and the library is there, ahead of OpenBLAS's sbgemm; an
     * AVX-512 Xeon without BF16 never loads it and keeps decode + sgemm; a missing library means decode, not failure.
     */
    @Test
    void theAvx512Bf16KernelOnlyWhereTheCpuHasItAndTheLibraryLoads() {
        assertThat(Sbgemm.choose(null, true, true, () -> null, () -> MISSING)).isEqualTo(Sbgemm.Path.AVX512_BF16);
        assertThat(Sbgemm.choose(null, true, true, () -> null, () -> null)).as("ahead of cblas_sbgemm")
                .isEqualTo(Sbgemm.Path.AVX512_BF16);
        assertThat(Sbgemm.choose(null, false, false, NO_KERNEL, () -> MISSING)).as("Xeon without BF16")
                .isEqualTo(Sbgemm.Path.DECODE);
        assertThat(Sbgemm.choose(null, true, true, () -> NO_LIBRARY, () -> MISSING)).as("library missing: no failure")
                .isEqualTo(Sbgemm.Path.DECODE);
        assertThat(Sbgemm.choose(null, true, true, () -> NO_LIBRARY, () -> null)).isEqualTo(Sbgemm.Path.NATIVE);
        assertThat(Sbgemm.choose(null, true, false, NO_KERNEL, () -> null)).as("AMX-BF16 only").isEqualTo(Sbgemm.Path.NATIVE);
        assertThat(Sbgemm.choose("decode", true, true, NO_KERNEL, () -> null)).isEqualTo(Sbgemm.Path.DECODE);
        assertThat(Sbgemm.choose(" AVX512BF16 ", true, true, () -> null, () -> MISSING)).isEqualTo(Sbgemm.Path.AVX512_BF16);
    }

    @Test
    void forcingTheKernelWhereItCannotRunNamesWhatIsMissing() {
        assertThatThrownBy(() -> Sbgemm.choose("avx512bf16", false, false, NO_KERNEL, () -> null))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("-Dmemwall.sbgemm=avx512bf16")
                .hasMessageContaining("does not report avx512_bf16").hasMessageContaining("-Dmemwall.sbgemm=decode");
        assertThatThrownBy(() -> Sbgemm.choose("avx512bf16", true, true, () -> NO_LIBRARY, () -> null))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining(NO_LIBRARY);
    }

    @Test
    void avx512Bf16NeedsTheBf16FlagWithAvx512FAndBw() {
        assertThat(CpuFeatures.hasAvx512Bf16(List.of("flags\t\t: fpu avx2 avx512f avx512bw avx512_bf16"))).isTrue();
        assertThat(CpuFeatures.hasAvx512Bf16(List.of("flags\t\t: fpu avx2 avx512f avx512bw avx512_vnni"))).as("Skylake-SP")
                .isFalse();
        assertThat(CpuFeatures.hasAvx512Bf16(List.of("flags\t\t: avx512f amx_bf16 amx_tile"))).as("AMX only").isFalse();
        assertThat(CpuFeatures.hasAvx512Bf16(List.of())).isFalse();
    }

    @Test
    void nativeOnlyWhereTheCpuHasBf16AndOpenBlasHasSbgemm() {
        assertThat(Sbgemm.choose(null, true, false, NO_KERNEL, () -> null)).isEqualTo(Sbgemm.Path.NATIVE);
        assertThat(Sbgemm.choose(null, false, false, NO_KERNEL, () -> null)).as("OpenBLAS #4673: ~10x slower without BF16").isEqualTo(Sbgemm.Path.DECODE);
        assertThat(Sbgemm.choose("", true, false, NO_KERNEL, () -> MISSING)).isEqualTo(Sbgemm.Path.DECODE);
        assertThat(Sbgemm.choose(" Decode ", true, false, NO_KERNEL, () -> null)).isEqualTo(Sbgemm.Path.DECODE);
        assertThat(Sbgemm.choose("native", false, false, NO_KERNEL, () -> null)).as("forced, to measure it").isEqualTo(Sbgemm.Path.NATIVE);
    }

    @Test
    void forcingDecodeNeverLoadsTheBinding() {
        assertThat(Sbgemm.choose("decode", true, false, NO_KERNEL, () -> {
            throw new AssertionError("asked whether native can run");
        })).isEqualTo(Sbgemm.Path.DECODE);
        assertThat(Sbgemm.choose(null, false, false, NO_KERNEL, () -> {
            throw new AssertionError("asked whether native can run");
        })).isEqualTo(Sbgemm.Path.DECODE);
    }

    @Test
    void forcingNativeWhereItCannotRunNamesWhatIsMissing() {
        assertThatThrownBy(() -> Sbgemm.choose("native", true, false, NO_KERNEL, () -> MISSING)).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("-Dmemwall.sbgemm=native").hasMessageContaining("cblas_sbgemm")
                .hasMessageContaining("-Dmemwall.sbgemm=decode");
        assertThatThrownBy(() -> Sbgemm.choose("fast", true, false, NO_KERNEL, () -> null)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("avx512bf16, native or decode").hasMessageContaining("'fast'");
    }

    @Test
    void bf16IsReadFromTheCpuFlags() {
        List<String> zen5 = List.of("processor\t: 0", "vendor_id\t: AuthenticAMD",
                "flags\t\t: fpu sse2 avx2 avx512f avx512bw avx512_bf16 avx512_vnni", "bugs\t\t: sysret_ss_attrs",
                "processor\t: 1", "flags\t\t: fpu");
        List<String> skylake = List.of("flags\t\t: fpu sse2 avx2 avx512f avx512bw avx512_vnni", "vmx flags\t: ept");
        List<String> sapphire = List.of("flags\t\t: avx512f amx_bf16 amx_tile amx_int8");
        assertThat(CpuFeatures.hasBf16(zen5)).isTrue();
        assertThat(CpuFeatures.hasBf16(skylake)).as("AVX-512 without BF16").isFalse();
        assertThat(CpuFeatures.hasBf16(sapphire)).isTrue();
        assertThat(CpuFeatures.hasBf16(List.of())).as("no /proc/cpuinfo: nothing assumed").isFalse();
        assertThat(CpuFeatures.flags(List.of("flags\t\t: fpu fpu avx"))).as("duplicates tolerated").contains("fpu", "avx");
    }

    /**
     * Where a compiler built the binding, it loads, and it finds cblas_sbgemm exactly when the OpenBLAS file mapped
     * into this process exports it (asked independently with {@code nm -D}).
     */
    @Test
    void theBindingFindsSbgemmExactlyWhenTheLoadedOpenBlasExportsIt() throws IOException, InterruptedException {
        Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/g++")), "no C++ compiler: the binding is not built");
        String missing = Sbgemm.nativeMissing();
        assertThat(missing == null || missing.startsWith(MISSING)).as("the binding loads: %s", missing).isTrue();
        Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/nm")), "no nm to read the library's symbols");
        String openblas = Files.readAllLines(Path.of("/proc/self/maps")).stream()
                .map(l -> l.substring(l.lastIndexOf(' ') + 1))
                .filter(f -> f.substring(f.lastIndexOf('/') + 1).startsWith("libopenblas")).findFirst().orElseThrow();
        Process nm = new ProcessBuilder("/usr/bin/nm", "-D", "--defined-only", openblas).redirectErrorStream(true).start();
        boolean exports = new String(nm.getInputStream().readAllBytes()).lines().anyMatch(l -> l.endsWith(" cblas_sbgemm"));
        assertThat(nm.waitFor()).isZero();
        assertThat(SbgemmCritical.memwall_sbgemm_available()).as("%s exports cblas_sbgemm", openblas).isEqualTo(exports);
    }
}
