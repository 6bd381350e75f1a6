package dev.memwall.io;

import dev.memwall.autograd.DType;
import dev.memwall.autograd.Tensor;
import dev.memwall.memory.Category;
import dev.memwall.memory.MemoryTracker;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Malformed and mismatched files are rejected with the first problem, naming the file and the tensor, before any
 * tensor is allocated ({@link SafeTensors#read}) or written ({@link SafeTensors#readInto}).
 */
class SafeTensorsValidationTest {
    private static final float SENTINEL = 42.25f;

    @TempDir
    Path dir;
    private Map<String, Tensor> targets;

    @BeforeEach
    void targets() {
        targets = new LinkedHashMap<>();
        targets.put("a", sentinel(2));
        targets.put("b", sentinel(2));
    }

    private static Tensor sentinel(int... shape) {
        Tensor t = Tensor.empty(DType.FP32, Category.PARAMETER, "target", shape);
        Arrays.fill(t.data(), SENTINEL);
        return t;
    }

    /** Two F32 [2] tensors a and b with the given header entries (a JSON fragment) over {@code dataBytes} bytes. */
    private Path file(String entries, int dataBytes) throws Exception {
        return bytes(Raw.file("{" + entries + "}", true, new byte[dataBytes]));
    }

    private Path bytes(byte[] content) throws Exception {
        Path f = dir.resolve("bad.safetensors");
        Files.write(f, content);
        return f;
    }

    private static String entry(String name, String dtype, String shape, long begin, long end) {
        return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":[" + begin + "," + end + "]}";
    }

    private static final String A = entry("a", "F32", "[2]", 0, 8), B = entry("b", "F32", "[2]", 8, 16);

    /**
     * Both readers reject {@code f} with a message containing every fragment; read() allocates nothing and
     * readInto() leaves the targets untouched.
     */
    private void rejected(Path f, String tensor, String... fragments) {
        MemoryTracker tracker = new MemoryTracker();
        try (var installed = MemoryTracker.install(tracker)) {
            assertThatThrownBy(() -> SafeTensors.read(f)).isInstanceOf(SafeTensorsException.class)
                    .hasMessageStartingWith(f + ": " + (tensor != null ? "tensor '" + tensor + "': " : ""))
                    .hasMessageContainingAll(fragments);
            assertThat(tracker.allocationCount()).as("allocations by a rejected read").isZero();
        }
        rejectedInto(f, tensor, fragments);
    }

    private void rejectedInto(Path f, String tensor, String... fragments) {
        assertThatThrownBy(() -> SafeTensors.readInto(f, targets, "the model"))
                .isInstanceOfSatisfying(SafeTensorsException.class, e -> {
                    assertThat(e.file()).isEqualTo(f);
                    assertThat(e.tensor()).isEqualTo(tensor);
                })
                .hasMessageStartingWith(f + ": " + (tensor != null ? "tensor '" + tensor + "': " : ""))
                .hasMessageContainingAll(fragments);
        for (Map.Entry<String, Tensor> e : targets.entrySet()) {
            float[] d = e.getValue().data();
            for (float v : d) assertThat(v).as("target %s after a rejected load", e.getKey()).isEqualTo(SENTINEL);
        }
    }

    @Test
    void wellFormedFileLoads() throws Exception {
        byte[] data = Raw.data().f32(1, 2, 3, 4).bytes();
        Path f = bytes(Raw.file("{" + A + "," + B + "}", true, data));
        SafeTensors.readInto(f, targets, "the model");
        assertThat(targets.get("b").data()).containsExactly(3f, 4f);
    }

    @Test
    void truncatedFiles() throws Exception {
        rejected(bytes(new byte[]{1, 0, 0}), null, "3 bytes", "shorter than the 8-byte header length");
        rejected(bytes(new byte[0]), null, "0 bytes");
        byte[] good = Raw.file("{" + A + "," + B + "}", true, Raw.data().f32(1, 2, 3, 4).bytes());
        rejected(bytes(Arrays.copyOf(good, good.length - 4)), "b", "outside the 12-byte data buffer");
        byte[] headerCut = Arrays.copyOf(good, 20);
        rejected(bytes(headerCut), null, "header length", "larger than the file (12 bytes");
    }

    @Test
    void headerLengthLargerThanTheFile() throws Exception {
        rejected(bytes(Raw.data().u64(1000).u8('{', '}').bytes()), null, "header length 1000 is larger than the file (2 bytes");
    }

    @Test
    void absurdHeaderLengthIsCappedBeforeAnyAllocation() throws Exception {
        rejected(bytes(Raw.data().u64(1L << 62).u8('{', '}').bytes()), null, "header length 4611686018427387904 exceeds the limit");
        rejected(bytes(Raw.data().u64(-1L).u8('{', '}').bytes()), null, "header length 18446744073709551615 exceeds the limit");
        rejected(bytes(Raw.data().u64(100_000_001L).u8('{', '}').bytes()), null, "exceeds the limit of 100000000 bytes");
    }

    @Test
    void invalidJson() throws Exception {
        rejected(bytes(Raw.file("{\"a\": {", true, new byte[0])), null, "header is not valid JSON");
        rejected(bytes(Raw.file("{\"a\": 1} x", true, new byte[0])), null, "header is not valid JSON");
        rejected(bytes(Raw.file("", false, new byte[0])), null, "header is not valid JSON");
        rejected(bytes(Raw.file("[1, 2]", true, new byte[0])), null, "header is not a JSON object");
        rejected(bytes(Raw.file(" {}", true, new byte[0])), null, "does not start with '{'");
        rejected(file(A + "," + A.replace("[0,8]", "[8,16]"), 16), null, "not valid JSON", "Duplicate field 'a'");
        byte[] badUtf8 = Raw.data().u64(8).u8('{', '"', 0xC3, 0x28, '"', ':', '1', '}').bytes();
        rejected(bytes(badUtf8), null, "not valid UTF-8");
    }

    @Test
    void entriesWithMissingOrMistypedFields() throws Exception {
        rejected(file(A + ",\"b\":{\"dtype\":\"F32\",\"data_offsets\":[8,16]}", 16), "b", "missing \"shape\"");
        rejected(file(A + ",\"b\":{\"shape\":[2],\"data_offsets\":[8,16]}", 16), "b", "missing \"dtype\"");
        rejected(file(A + ",\"b\":{\"dtype\":\"F32\",\"shape\":[2]}", 16), "b", "missing \"data_offsets\"");
        rejected(file(A + ",\"b\":[1]", 16), "b", "entry is not a JSON object");
        rejected(file(A + "," + B.replace("\"F32\"", "32"), 16), "b", "\"dtype\" is not a string");
        rejected(file(A + "," + B.replace("[2]", "\"2\""), 16), "b", "\"shape\" is not an array");
        rejected(file(A + "," + B.replace("[2]", "[2.5]"), 16), "b", "is not an integer");
        rejected(file(A + "," + entry("b", "F32", "[-2]", 8, 16), 16), "b", "negative dimension -2");
        rejected(file(A + "," + entry("b", "F32", "[4294967298]", 8, 16), 16), "b", "exceeds 2^31-1");
        rejected(file(A + "," + entry("b", "F32", "[65536,65536]", 8, 16), 16), "b", "more than 2^31-1 elements");
        rejected(file(A + "," + B.replace("[8,16]", "[8]"), 16), "b", "not an array of two integers");
        rejected(file(A + "," + B.replace("[8,16]", "[-8,16]"), 16), "b", "are not non-negative integers");
        rejected(file("\"__metadata__\":{\"k\":1}," + A + "," + B, 16), null, "metadata value of 'k' is not a string");
        rejected(file("\"__metadata__\":[]," + A + "," + B, 16), null, "\"__metadata__\" is not a JSON object");
    }

    @Test
    void unknownDtype() throws Exception {
        rejected(file(A + "," + entry("b", "F64", "[1]", 8, 16), 16), "b", "unknown dtype \"F64\"");
    }

    @Test
    void overlappingOffsets() throws Exception {
        rejected(file(entry("a", "F32", "[2]", 0, 8) + "," + entry("b", "F32", "[2]", 4, 12), 12), "b",
                "data_offsets [4, 12) overlap those of tensor 'a' [0, 8)");
        rejected(file(entry("a", "F32", "[2]", 0, 8) + "," + entry("b", "F32", "[2]", 0, 8), 8), "b", "data_offsets [0, 8) overlap those of tensor 'a' [0, 8)");
        rejected(file(entry("b", "F32", "[2]", 0, 8) + "," + entry("a", "F32", "[2]", 0, 8), 8), "a", "overlap those of tensor 'b'");
    }

    @Test
    void holesAndUncoveredBytes() throws Exception {
        rejected(file(entry("a", "F32", "[2]", 0, 8) + "," + entry("b", "F32", "[2]", 12, 20), 20), "b",
                "bytes [8, 12) belong to no tensor");
        rejected(file(entry("a", "F32", "[2]", 4, 12) + "," + entry("b", "F32", "[2]", 12, 20), 20), "a",
                "bytes [0, 4) belong to no tensor");
        rejected(file(A + "," + B, 20), null, "tensors cover 16 bytes of the 20-byte data buffer");
    }

    @Test
    void outOfRangeOffsets() throws Exception {
        rejected(file(A + "," + entry("b", "F32", "[2]", 8, 16), 12), "b", "data_offsets [8,16] lie outside the 12-byte data buffer");
        rejected(file(A + "," + entry("b", "F32", "[2]", 99999999999999999L, 16), 16), "b", "outside");
        rejected(file(A + "," + B.replace("[8,16]", "[8,123456789012345678901234567890]"), 16), "b", "outside");
        rejected(file(A + "," + entry("b", "F32", "[0]", 16, 8), 16), "b", "end before they begin");
    }

    @Test
    void byteCountMismatch() throws Exception {
        rejected(file(A + "," + entry("b", "F32", "[3]", 8, 16), 16), "b", "dtype F32 with shape [3] takes 12 bytes but data_offsets [8,16] span 8");
        rejected(file(A + "," + entry("b", "F16", "[]", 8, 16), 16), "b", "takes 2 bytes");
    }

    @Test
    void firstProblemInHeaderOrderIsReported() throws Exception {
        rejected(file(entry("a", "F99", "[2]", 0, 8) + "," + entry("b", "F32", "[-1]", 8, 16), 16), "a", "unknown dtype");
    }

    @Test
    void missingName() throws Exception {
        targets.put("c", sentinel(3));
        targets.put("d", sentinel(3));
        rejectedInto(file(A + "," + B, 16), "c", "required by the model but not in the file (2 tensors missing)");
        targets.remove("d");
        rejectedInto(file(A + "," + B, 16), "c", "required by the model but not in the file");
    }

    @Test
    void unexpectedName() throws Exception {
        Path f = file(A + "," + B + "," + entry("extra", "I32", "[1]", 16, 20), 20);
        rejectedInto(f, "extra", "in the file but not in the model");
        targets.remove("b");
        rejectedInto(f, "b", "(2 unexpected tensors)");
    }

    @Test
    void shapeMismatch() throws Exception {
        rejectedInto(file(A + "," + entry("b", "F32", "[1,2]", 8, 16), 16), "b", "has shape [1, 2] in the file but [2] in the model");
    }

    @Test
    void dtypeNotConvertible() throws Exception {
        rejectedInto(file(A + "," + entry("b", "I32", "[2]", 8, 16), 16), "b", "dtype I32 in the file cannot be loaded into the FP32 tensor");
        rejectedInto(file(A + "," + entry("b", "F8_E4M3", "[2]", 8, 10), 10), "b", "dtype F8_E4M3");
        Tensor half = Tensor.empty(DType.FP16, Category.PARAMETER, "t", 2);
        targets.put("b", half);
        assertThatThrownBy(() -> SafeTensors.readInto(file(A + "," + B, 16), targets, "the model"))
                .hasMessageContaining("tensor 'b': dtype F32 in the file cannot be loaded into the FP16 tensor");
        assertThat(half.shortData()).containsOnly((short) 0);
        assertThat(targets.get("a").data()).containsOnly(SENTINEL);
    }

    @Test
    void releasedTarget() throws Exception {
        targets.get("b").release();
        targets.put("b", targets.get("b"));
        Path f = file(A + "," + B, 16);
        assertThatThrownBy(() -> SafeTensors.readInto(f, targets, "the model"))
                .hasMessageContaining("tensor 'b': the target in the model is null or released");
        assertThat(targets.get("a").data()).containsOnly(SENTINEL);
    }
}
