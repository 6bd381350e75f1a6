package dev.memwall.io;

import com.code_intelligence.jazzer.junit.DictionaryEntries;
import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.memwall.autograd.DType;
import dev.memwall.autograd.Tensor;
import dev.memwall.memory.Category;
import dev.memwall.memory.MemoryTracker;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Arbitrary bytes as a safetensors file. Whatever the header claims (JSON, offsets, dtypes, shapes, lengths):
 * <ul>
 *   <li>the only exception is the project's own {@link SafeTensorsException};</li>
 *   <li>the reader allocates no more than the file's size justifies: tracked tensor bytes at most the file's size,
 *       and heap allocated by the reading thread within a fixed allowance plus a multiple of the file's size;</li>
 *   <li>nothing is loaded on error: {@link SafeTensors#read} allocates no tensor, {@link SafeTensors#readInto} leaves
 *       its targets untouched;</li>
 *   <li>{@link SafeTensors#inspect} accepts exactly the files {@link SafeTensors#read} accepts.</li>
 * </ul>
 * {@code mvn test} fuzzes for {@code maxDuration} (JAZZER_FUZZ=1, set in the pom); with {@code -Djazzer.fuzz=0} it
 * only replays the inputs in {@code src/test/resources/dev/memwall/io/SafeTensorsFuzzTestInputs}: valid files of
 * every dtype, edge cases, and any input that once found a bug.
 */
class SafeTensorsFuzzTest {
    private static final float SENTINEL = 42.25f;
    /** The reader's two I/O buffers (256 KiB each) and Jackson's parser buffers, whatever the file. */
    private static final long FIXED_ALLOWANCE = 2L << 20;
    /** Header text decoded to UTF-16, the JSON tree, messages: a few tens of bytes per byte of file at most. */
    private static final long PER_FILE_BYTE = 64;
    private static final com.sun.management.ThreadMXBean THREADS =
            (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();

    private static Path dir;
    private static Path file;

    @BeforeAll
    static void createFile() throws IOException {
        dir = Files.createTempDirectory("safetensors-fuzz");
        file = dir.resolve("input.safetensors");
    }

    @AfterAll
    static void deleteFile() throws IOException {
        Files.deleteIfExists(file);
        Files.deleteIfExists(dir);
    }

    @FuzzTest(maxDuration = "30s")
    @DictionaryEntries({"\"dtype\"", "\"shape\"", "\"data_offsets\"", "\"__metadata__\"", "\"F32\"", "\"F16\"",
            "\"BF16\"", "\"F8_E4M3\"", "\"F8_E5M2\"", "\"I32\"", "\"BOOL\"", "\"F64\"", "\"a\"", "\"b\"", "[0,8]",
            "[8,16]", "[2]", "[]", "[0]", "2147483647", "4294967296", "-1", "1e3", "\u00e9"})
    void readerRejectsBadFilesWithItsOwnErrorAllocatingAndLoadingNothing(byte[] content) throws IOException {
        Files.write(file, content);
        long size = content.length, allowance = FIXED_ALLOWANCE + PER_FILE_BYTE * size;
        long[] heap = readAndCheck(size);
        if (heap[0] > allowance || heap[1] > allowance + size || heap[2] > allowance) {
            // The first run of a code path may load (and, when fuzzing, instrument) classes on this thread; a reader
            // that allocates what the header claims does so again on the second run.
            heap = readAndCheck(size);
            assertThat(heap[0]).as("heap allocated by inspect").isLessThanOrEqualTo(allowance);
            assertThat(heap[1]).as("heap allocated by read").isLessThanOrEqualTo(allowance + size);
            assertThat(heap[2]).as("heap allocated by readInto").isLessThanOrEqualTo(allowance);
        }
    }

    /** Checks every property but the heap allocations, which it returns: by inspect, read and readInto. */
    private static long[] readAndCheck(long size) throws IOException {
        long[] heap = new long[3];

        boolean headerValid;
        long heapBefore = THREADS.getCurrentThreadAllocatedBytes();
        try {
            SafeTensors.inspect(file);
            headerValid = true;
        } catch (SafeTensorsException e) {
            headerValid = false;
        }
        heap[0] = THREADS.getCurrentThreadAllocatedBytes() - heapBefore;

        MemoryTracker tracker = new MemoryTracker();
        try (var installed = MemoryTracker.install(tracker)) {
            heapBefore = THREADS.getCurrentThreadAllocatedBytes();
            try (SafeTensorsFile read = SafeTensors.read(file)) {
                assertThat(headerValid).as("read accepts a file inspect rejected").isTrue();
                assertThat(tracker.allocatedBytes()).as("tensor bytes read").isLessThanOrEqualTo(size);
            } catch (SafeTensorsException e) {
                assertThat(headerValid).as("read rejects a file inspect accepted: %s", e.getMessage()).isFalse();
                assertThat(tracker.allocationCount()).as("tensors allocated by a rejected read").isZero();
            }
            heap[1] = THREADS.getCurrentThreadAllocatedBytes() - heapBefore;
            assertThat(tracker.currentTotal()).as("bytes still held after close").isZero();

            Map<String, Tensor> targets = targets();
            heapBefore = THREADS.getCurrentThreadAllocatedBytes();
            try {
                SafeTensors.readInto(file, targets, "the targets");
            } catch (SafeTensorsException e) {
                for (Map.Entry<String, Tensor> t : targets.entrySet()) {
                    float[] data = t.getValue().data();
                    for (float v : data) assertThat(v).as("target %s after a rejected load", t.getKey()).isEqualTo(SENTINEL);
                }
            }
            heap[2] = THREADS.getCurrentThreadAllocatedBytes() - heapBefore;
            targets.values().forEach(Tensor::release);
        }
        return heap;
    }

    /** FP32 targets a and b of two elements, the names and shapes of the valid seed inputs. */
    private static Map<String, Tensor> targets() {
        Map<String, Tensor> targets = new LinkedHashMap<>();
        for (String name : new String[]{"a", "b"}) {
            Tensor t = Tensor.empty(DType.FP32, Category.PARAMETER, "target", 2);
            Arrays.fill(t.data(), SENTINEL);
            targets.put(name, t);
        }
        return targets;
    }
}
