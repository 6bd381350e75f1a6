package dev.memwall.io;

import dev.memwall.autograd.DType;
import dev.memwall.autograd.Tensor;
import dev.memwall.memory.Category;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Writes replace the destination wholly or not at all, and never leave a temporary file behind. */
class SafeTensorsAtomicWriteTest {
    @TempDir
    Path dir;

    private List<String> listing() throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    private static Tensor ramp(int n) {
        Tensor t = Tensor.empty(DType.FP32, Category.PARAMETER, "ramp", n);
        for (int k = 0; k < n; k++) t.data()[k] = k;
        return t;
    }

    @Test
    void writingOverAnExistingFileReplacesItWholly() throws Exception {
        Path f = dir.resolve("model.safetensors");
        SafeTensors.write(f, Map.of("big", ramp(100_000), "other", ramp(3)), Map.of("v", "1"));
        long bigSize = Files.size(f);
        SafeTensors.write(f, Map.of("small", ramp(2)), Map.of("v", "2"));
        assertThat(Files.size(f)).isLessThan(bigSize);
        try (SafeTensorsFile back = SafeTensors.read(f)) {
            assertThat(back.metadata()).containsExactly(Map.entry("v", "2"));
            assertThat(back.tensors().keySet()).containsExactly("small");
            assertThat(back.tensor("small").toFloatArray()).containsExactly(0f, 1f);
        }
        assertThat(listing()).containsExactly("model.safetensors");
    }

    @Test
    void relativePathsAndFreshFilesLeaveNoTemporaryFile() throws Exception {
        Path f = dir.resolve("sub").resolve("fresh.safetensors");
        Files.createDirectories(f.getParent());
        SafeTensors.write(f, Map.of("x", ramp(5)), null);
        try (Stream<Path> s = Files.list(f.getParent())) {
            assertThat(s.map(p -> p.getFileName().toString()).toList()).containsExactly("fresh.safetensors");
        }
        assertThat(SafeTensors.inspect(f).entries()).hasSize(1);
    }

    @Test
    void failureMidwayLeavesTheOriginalFileAndNoTemporaryFile() throws Exception {
        Path f = dir.resolve("model.safetensors");
        SafeTensors.write(f, Map.of("w", ramp(10)), Map.of("epoch", "1"));
        byte[] before = Files.readAllBytes(f);

        Map<String, Tensor> broken = new LinkedHashMap<>();
        broken.put("first", ramp(70_000)); // written to the temporary file before the failure
        Tensor released = ramp(4);
        released.release();
        broken.put("released", released);
        broken.put("after", ramp(4));
        assertThatThrownBy(() -> SafeTensors.write(f, broken, Map.of("epoch", "2")))
                .isInstanceOf(SafeTensorsException.class)
                .hasMessageStartingWith(f + ": tensor 'released': cannot be written")
                .hasMessageContaining("was released");

        assertThat(Files.readAllBytes(f)).isEqualTo(before);
        assertThat(listing()).containsExactly("model.safetensors");
    }

    @Test
    void failedRenameLeavesNoTemporaryFile() throws Exception {
        Path target = dir.resolve("occupied");
        Files.createDirectories(target.resolve("child")); // a non-empty directory cannot be replaced by a file
        assertThatThrownBy(() -> SafeTensors.write(target, Map.of("x", ramp(1000)), null)).isInstanceOf(IOException.class);
        assertThat(listing()).containsExactly("occupied");
        assertThat(Files.isDirectory(target.resolve("child"))).isTrue();
    }

    @Test
    void invalidArgumentsAreRejectedBeforeTouchingTheDisk() throws Exception {
        Path f = dir.resolve("model.safetensors");
        Map<String, Tensor> reserved = Map.of("__metadata__", ramp(1));
        assertThatThrownBy(() -> SafeTensors.write(f, reserved, null)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("reserved");
        Map<String, Tensor> withNull = new LinkedHashMap<>();
        withNull.put("x", null);
        assertThatThrownBy(() -> SafeTensors.write(f, withNull, null)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("tensor 'x' is null");
        assertThat(listing()).isEmpty();
    }
}
