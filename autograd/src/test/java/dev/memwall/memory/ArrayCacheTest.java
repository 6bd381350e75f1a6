package dev.memwall.memory;

import dev.memwall.autograd.DType;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * An allocation of any element type that finds the heap full while the cache holds arrays succeeds after the cache is
 * emptied. Each case runs in a child JVM with a 64 MiB heap, so filling the heap cannot disturb other tests.
 */
class ArrayCacheTest {
    @ParameterizedTest
    @EnumSource(value = DType.class, names = {"FP32", "FP16", "BF16", "FP8_E4M3", "BOOL", "INT32"})
    void anAllocationThatOnlyFitsWithoutTheCacheSucceeds(DType dtype) throws IOException, InterruptedException {
        Path java = Path.of(System.getProperty("java.home"), "bin", "java");
        List<String> command = List.of(java.toString(), "-Xmx64m", "-XX:+UseSerialGC", "-Dmemwall.cache.mb=32",
                "-cp", System.getProperty("java.class.path"), CacheFullHeapProbe.class.getName(), dtype.name(), "24", "8");
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor()).as("child JVM said: %s", output).isZero();
        assertThat(output).contains("allocated " + (8L << 20) + " bytes").contains("cache now 0");
    }
}
