package dev.memwall.kernels;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Collectors;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Which GEMM path a process takes, and that the no-copy one is really in use wherever it can be built. */
class GemmPathTest {
    /**
     * The build compiles the binding wherever /usr/bin/g++ exists (the autograd module's native-gemm profile), so on
     * such a machine (CI installs g++) these tests must run on the no-copy path, unless a run forces staging.
     */
    @Test
    void whereACompilerExistsTheNoCopyPathIsInUse() {
        Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/g++")), "no C++ compiler: the binding is not built");
        Assumptions.assumeTrue(System.getProperty(Gemm.PROPERTY) == null, "-Dmemwall.gemm forces a path");
        assertThat(Gemm.path()).isEqualTo(Gemm.Path.CRITICAL);
    }

    @Test
    void theBindingIsUsedWhenItLoadsUnlessStagingIsForced() {
        UnsatisfiedLinkError missing = new UnsatisfiedLinkError("no jnimemwall_sgemm in java.library.path");
        assertThat(Gemm.choose(null, null)).isEqualTo(Gemm.Path.CRITICAL);
        assertThat(Gemm.choose(null, missing)).isEqualTo(Gemm.Path.STAGED);
        assertThat(Gemm.choose("", missing)).isEqualTo(Gemm.Path.STAGED);
        assertThat(Gemm.choose("staged", null)).isEqualTo(Gemm.Path.STAGED);
        assertThat(Gemm.choose(" Critical ", null)).isEqualTo(Gemm.Path.CRITICAL);
    }

    @Test
    void forcingTheNoCopyPathWithoutItsLibraryNamesWhatIsMissing() {
        UnsatisfiedLinkError missing = new UnsatisfiedLinkError("no jnimemwall_sgemm in java.library.path");
        assertThatThrownBy(() -> Gemm.choose("critical", missing)).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("dev.memwall.kernels.blas.SgemmCritical")
                .hasMessageContaining("no jnimemwall_sgemm")
                .hasMessageContaining("C++ compiler")
                .hasCause(missing);
        assertThatThrownBy(() -> Gemm.choose("fast", null)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("critical or staged").hasMessageContaining("'fast'");
    }

    /**
     * The binding links against the OpenBLAS the preset has already loaded (matched by soname), not a second copy:
     * one OpenBLAS in the process, so the single-thread setting applies to the no-copy path too.
     */
    @Test
    void theBindingSharesTheOneOpenBlasInTheProcess() throws IOException {
        Assumptions.assumeTrue(GemmReference.criticalAvailable(), "the no-copy binding is not built");
        Gemm.run(Gemm.Path.CRITICAL, new GemmCall(1, false, false, 1, 1, 1, 1f, new float[1], 0, 1, 0, new float[1], 0, 1, 0,
                0f, new float[1], 0, 1, 0));
        var openblas = Files.readAllLines(Path.of("/proc/self/maps")).stream()
                .map(l -> l.substring(l.lastIndexOf(' ') + 1))
                .filter(f -> f.substring(f.lastIndexOf('/') + 1).startsWith("libopenblas"))
                .collect(Collectors.toSet());
        assertThat(openblas).as("OpenBLAS files mapped").hasSize(1);
        var binding = Files.readAllLines(Path.of("/proc/self/maps")).stream().anyMatch(l -> l.endsWith("libjnimemwall_sgemm.so"));
        assertThat(binding).as("the binding is mapped").isTrue();
    }
}
