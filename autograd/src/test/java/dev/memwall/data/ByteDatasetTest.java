package dev.memwall.data;

import dev.memwall.autograd.Scope;
import dev.memwall.autograd.Tensor;
import dev.memwall.rng.Rng;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class ByteDatasetTest {
    /** Byte i is (i * 7 + 3) mod 256: distinct neighbours and plenty of values ≥ 128. */
    static byte[] pattern(int n) {
        byte[] b = new byte[n];
        for (int i = 0; i < n; i++) b[i] = (byte) (i * 7 + 3);
        return b;
    }

    static int u(int i) {
        return (i * 7 + 3) & 0xFF;
    }

    @Test
    void sequentialWindowsFollowTheCliSpec() {
        int T = 5, B = 3;
        ByteDataset d = ByteDataset.of(pattern(100));
        assertThat(d.sequentialWindows(T)).isEqualTo(19);           // i*5 + 6 <= 100  ->  i <= 18
        assertThat(d.sequentialBatches(B, T)).isEqualTo(6);
        for (int index = 0; index < 6; index++) {
            Batch b = d.sequentialBatch(index, B, T);
            assertThat(b.batch()).isEqualTo(B);
            assertThat(b.context()).isEqualTo(T);
            for (int r = 0; r < B; r++) {
                int i = index * B + r;
                for (int t = 0; t < T; t++) {
                    assertThat(b.id(r, t)).isEqualTo(u(i * T + t));
                    assertThat(b.target(r, t)).isEqualTo(u(i * T + t + 1));
                }
            }
        }
        assertThatThrownBy(() -> d.sequentialBatch(6, B, T)).isInstanceOf(IndexOutOfBoundsException.class)
                .hasMessageContaining("19 windows");
    }

    @Test
    void windowCountEdges() {
        assertThat(ByteDataset.of(new byte[6]).sequentialWindows(5)).isEqualTo(1);
        assertThat(ByteDataset.of(new byte[5]).sequentialWindows(5)).isEqualTo(0);
        assertThat(ByteDataset.of(new byte[11]).sequentialWindows(5)).isEqualTo(2);
        assertThat(ByteDataset.of(new byte[10]).sequentialWindows(5)).isEqualTo(1);
    }

    @Test
    void bytesAreUnsigned() {
        byte[] raw = {(byte) 0x00, (byte) 0x7F, (byte) 0x80, (byte) 0xC3, (byte) 0xFF, (byte) 0x41};
        Batch b = ByteDataset.of(raw).sequentialBatch(0, 1, 5);
        assertThat(b.ids()).containsExactly(0, 127, 128, 195, 255);
        assertThat(b.targets()).containsExactly(127, 128, 195, 255, 65);
        try (Scope s = Scope.open()) {
            Tensor ids = b.idsTensor(), targets = b.targetsTensor();
            assertThat(ids.shape()).containsExactly(1, 5);
            assertThat(targets.shape()).containsExactly(1, 5);
            assertThat(ids.toFloatArray()).containsExactly(0f, 127f, 128f, 195f, 255f);
        }
    }

    @Test
    void randomBatchesAreDeterministicAndInBounds() {
        int n = 50, T = 8, B = 16;
        ByteDataset d = ByteDataset.of(pattern(n));
        Batch x = d.randomBatch(B, T, new Rng(42));
        Batch y = d.randomBatch(B, T, new Rng(42));
        assertThat(x).isEqualTo(y);
        assertThat(d.randomBatch(B, T, new Rng(43))).isNotEqualTo(x);

        Rng rng = new Rng(7);
        boolean sawFirst = false, sawLast = false;
        for (int k = 0; k < 200; k++) {
            Batch b = d.randomBatch(B, T, rng);
            for (int r = 0; r < B; r++) {
                int s = startOf(b.id(r, 0), n);
                assertThat(s).isBetween(0, n - T - 1);
                sawFirst |= s == 0;
                sawLast |= s == n - T - 1;
                for (int t = 0; t < T; t++) {
                    assertThat(b.id(r, t)).isEqualTo(u(s + t));
                    assertThat(b.target(r, t)).isEqualTo(u(s + t + 1));
                }
            }
        }
        assertThat(sawFirst).isTrue();
        assertThat(sawLast).isTrue();
    }

    /** The pattern's first 50 values are distinct (7 is invertible mod 256), so a byte identifies its index. */
    static int startOf(int value, int n) {
        for (int i = 0; i < n; i++) if (u(i) == value) return i;
        throw new AssertionError(value);
    }

    @Test
    void tooShortDataFailsClearly(@TempDir Path dir) throws IOException {
        Path f = dir.resolve("tiny.txt");
        Files.write(f, new byte[]{1, 2, 3, 4});
        assertThatThrownBy(() -> ByteDataset.open(f, 4)).isInstanceOf(IOException.class)
                .hasMessageContaining("tiny.txt").hasMessageContaining("4 bytes").hasMessageContaining("needs 5");
        ByteDataset d = ByteDataset.open(f);
        assertThat(ByteDataset.open(f, 3).length()).isEqualTo(4);
        assertThatThrownBy(() -> d.randomBatch(1, 4, new Rng(1))).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("tiny.txt").hasMessageContaining("at least 5 bytes");
        assertThatThrownBy(() -> d.sequentialBatch(0, 1, 4)).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("tiny.txt");
        assertThat(d.sequentialWindows(4)).isZero();
    }

    @Test
    void missingOrEmptyFileFailsClearly(@TempDir Path dir) throws IOException {
        Path missing = dir.resolve("nope.bin");
        assertThatThrownBy(() -> ByteDataset.open(missing)).isInstanceOf(IOException.class)
                .hasMessageContaining("nope.bin").hasMessageContaining("does not exist");
        Path empty = Files.write(dir.resolve("empty.bin"), new byte[0]);
        assertThatThrownBy(() -> ByteDataset.open(empty)).isInstanceOf(IOException.class)
                .hasMessageContaining("empty.bin").hasMessageContaining("empty");
        assertThatThrownBy(() -> ByteDataset.open(dir)).isInstanceOf(IOException.class).hasMessageContaining("directory");
    }

    @Test
    void openReadsTheFile(@TempDir Path dir) throws IOException {
        Path f = Files.write(dir.resolve("data.bin"), pattern(300));
        ByteDataset d = ByteDataset.open(f, 16);
        assertThat(d.length()).isEqualTo(300);
        assertThat(d.name()).endsWith("data.bin");
        for (int i = 0; i < 300; i++) assertThat(d.byteAt(i)).isEqualTo(u(i));
        assertThat(d.sequentialBatch(1, 2, 16).id(0, 0)).isEqualTo(u(32));
    }

    @Test
    void splitSizesAndContents() {
        ByteDataset d = ByteDataset.of("p", pattern(1000));
        ByteDataset[] parts = d.split(0.9);
        assertThat(parts).hasSize(2);
        assertThat(parts[0].length()).isEqualTo(900);
        assertThat(parts[1].length()).isEqualTo(100);
        assertThat(parts[0].byteAt(0)).isEqualTo(u(0));
        assertThat(parts[1].byteAt(0)).isEqualTo(u(900));
        assertThat(parts[1].byteAt(99)).isEqualTo(u(999));
        assertThat(parts[0].name()).isEqualTo("p[train]");
        assertThat(parts[1].name()).isEqualTo("p[eval]");
        // windows of a split stay inside it
        Batch e = parts[1].sequentialBatch(0, 1, 99);
        assertThat(e.target(0, 98)).isEqualTo(u(999));
        assertThat(parts[1].sequentialWindows(10)).isEqualTo(9);
        ByteDataset[] odd = ByteDataset.of(new byte[7]).split(0.5);
        assertThat(odd[0].length() + odd[1].length()).isEqualTo(7);
        assertThatThrownBy(() -> d.split(1.0)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> d.split(0.0)).isInstanceOf(IllegalArgumentException.class);
    }
}
