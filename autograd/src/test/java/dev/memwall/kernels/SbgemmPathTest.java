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

    @Test
    void nativeOnlyWhereTheCpuHasBf16AndOpenBlasHasSbgemm() {
        assertThat(Sbgemm.choose(null, true, () -> null)).isEqualTo(Sbgemm.Path.NATIVE);
        assertThat(Sbgemm.choose(null, false, () -> null)).as("OpenBLAS #4673: ~10x slower without BF16").isEqualTo(Sbgemm.Path.DECODE);
        assertThat(Sbgemm.choose("", true, () -> MISSING)).isEqualTo(Sbgemm.Path.DECODE);
        assertThat(Sbgemm.choose(" Decode ", true, () -> null)).isEqualTo(Sbgemm.Path.DECODE);
        assertThat(Sbgemm.choose("native", false, () -> null)).as("forced, to measure it").isEqualTo(Sbgemm.Path.NATIVE);
    }

    @Test
    void forcingDecodeNeverLoadsTheBinding() {
        assertThat(Sbgemm.choose("decode", true, () -> {
            throw new AssertionError("asked whether native can run");
        })).isEqualTo(Sbgemm.Path.DECODE);
        assertThat(Sbgemm.choose(null, false, () -> {
            throw new AssertionError("asked whether native can run");
        })).isEqualTo(Sbgemm.Path.DECODE);
    }

    @Test
    void forcingNativeWhereItCannotRunNamesWhatIsMissing() {
        assertThatThrownBy(() -> Sbgemm.choose("native", true, () -> MISSING)).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("-Dmemwall.sbgemm=native").hasMessageContaining("cblas_sbgemm")
                .hasMessageContaining("-Dmemwall.sbgemm=decode");
        assertThatThrownBy(() -> Sbgemm.choose("fast", true, () -> null)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("native or decode").hasMessageContaining("'fast'");
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
