package dev.memwall.io;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import dev.memwall.autograd.DType;

import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The validated header of a safetensors file: metadata and, in header order, each tensor's dtype, shape and byte
 * range. {@link #read} checks everything the header claims against the file before anything else is allocated.
 *
 * @param metadata     the {@code "__metadata__"} strings (empty when absent), unmodifiable
 * @param entries      the tensors in header order, unmodifiable
 * @param headerLength N, the length of the JSON header (including its padding)
 * @param dataLength   the length of the byte buffer after the header
 */
public record SafeTensorsHeader(Map<String, String> metadata, List<Entry> entries, long headerLength, long dataLength) {
    /** The reference implementation's limit on N (100 MB); a larger N is refused before anything is allocated. */
    public static final long MAX_HEADER_BYTES = 100_000_000L;
    static final String METADATA_KEY = "__metadata__";

    static final JsonMapper JSON = JsonMapper.builder()
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .build();

    /**
     * One tensor of the file.
     *
     * @param begin start of its bytes, relative to the data buffer
     * @param end   end (exclusive) of its bytes, relative to the data buffer
     */
    public record Entry(String name, DType dtype, int[] shape, long begin, long end) {
        @Override
        public int[] shape() {
            return shape.clone();
        }

        public int numel() {
            return (int) ((end - begin) / dtype.bytes);
        }

        @Override
        public String toString() {
            return name + " " + dtypeName(dtype) + Arrays.toString(shape) + " @[" + begin + ", " + end + ")";
        }
    }

    /** The offset in the file of the data buffer: 8 + N. */
    public long dataStart() {
        return 8 + headerLength;
    }

    /** The entry called {@code name}, or null. */
    public Entry entry(String name) {
        for (Entry e : entries) if (e.name.equals(name)) return e;
        return null;
    }

    /** The safetensors name of a dtype: F32, F16, BF16, F8_E4M3, F8_E5M2, I32, BOOL. */
    public static String dtypeName(DType d) {
        return switch (d) {
            case FP32 -> "F32";
            case FP16 -> "F16";
            case BF16 -> "BF16";
            case FP8_E4M3 -> "F8_E4M3";
            case FP8_E5M2 -> "F8_E5M2";
            case INT32 -> "I32";
            case BOOL -> "BOOL";
        };
    }

    /** The dtype of a safetensors dtype name, or null when memwall has no such dtype. */
    public static DType dtypeOf(String name) {
        for (DType d : DType.values()) if (dtypeName(d).equals(name)) return d;
        return null;
    }

    /** Reads and validates the header of {@code file} from {@code ch}; the first problem is thrown. */
    static SafeTensorsHeader read(Path file, FileChannel ch) throws IOException {
        long size = ch.size();
        if (size < 8) throw fail(file, null, "file is " + size + " bytes, shorter than the 8-byte header length");
        ByteBuffer lenBuf = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
        readFully(ch, lenBuf, 0, file, null);
        long n = lenBuf.flip().getLong();
        if (n < 0 || n > MAX_HEADER_BYTES) {
            throw fail(file, null, "header length " + Long.toUnsignedString(n) + " exceeds the limit of " + MAX_HEADER_BYTES + " bytes");
        }
        if (n > size - 8) {
            throw fail(file, null, "header length " + n + " is larger than the file (" + (size - 8) + " bytes after the length field)");
        }
        ByteBuffer raw = ByteBuffer.allocate((int) n);
        readFully(ch, raw, 8, file, null);
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(raw.flip()).toString();
        } catch (CharacterCodingException e) {
            throw fail(file, null, "header is not valid UTF-8");
        }
        JsonNode root;
        try {
            root = JSON.readTree(text);
        } catch (JsonProcessingException e) {
            throw new SafeTensorsException(file, null, "header is not valid JSON: " + e.getOriginalMessage(), e);
        }
        if (root == null || root.isMissingNode()) throw fail(file, null, "header is not valid JSON: it is empty");
        if (!root.isObject()) throw fail(file, null, "header is not a JSON object");
        if (!text.startsWith("{")) throw fail(file, null, "header does not start with '{'");
        return validate(file, root, n, size - 8 - n);
    }

    private static SafeTensorsHeader validate(Path file, JsonNode root, long n, long dataLength) throws SafeTensorsException {
        Map<String, String> metadata = new LinkedHashMap<>();
        List<Entry> entries = new ArrayList<>();
        for (Map.Entry<String, JsonNode> f : root.properties()) {
            if (f.getKey().equals(METADATA_KEY)) {
                readMetadata(file, f.getValue(), metadata);
            } else {
                entries.add(entry(file, f.getKey(), f.getValue(), dataLength));
            }
        }
        // Ranges must tile the data buffer: no overlap, no hole, nothing left over (as the reference reader demands).
        List<Entry> sorted = new ArrayList<>(entries);
        sorted.sort(Comparator.comparingLong(Entry::begin).thenComparingLong(Entry::end));
        long covered = 0;
        Entry previous = null;
        for (Entry e : sorted) {
            if (e.begin < covered) {
                throw fail(file, e.name, "data_offsets [" + e.begin + ", " + e.end + ") overlap those of tensor '"
                        + previous.name + "' [" + previous.begin + ", " + previous.end + ")");
            }
            if (e.begin > covered) {
                throw fail(file, e.name, "data_offsets begin at " + e.begin + " but the previous tensor ends at "
                        + covered + ": bytes [" + covered + ", " + e.begin + ") belong to no tensor");
            }
            covered = e.end;
            previous = e;
        }
        if (covered != dataLength) {
            throw fail(file, null, "tensors cover " + covered + " bytes of the " + dataLength
                    + "-byte data buffer: bytes [" + covered + ", " + dataLength + ") belong to no tensor");
        }
        return new SafeTensorsHeader(Collections.unmodifiableMap(metadata), List.copyOf(entries), n, dataLength);
    }

    private static void readMetadata(Path file, JsonNode m, Map<String, String> out) throws SafeTensorsException {
        if (!m.isObject()) throw fail(file, null, "\"__metadata__\" is not a JSON object");
        for (Map.Entry<String, JsonNode> kv : m.properties()) {
            if (!kv.getValue().isTextual()) throw fail(file, null, "metadata value of '" + kv.getKey() + "' is not a string");
            out.put(kv.getKey(), kv.getValue().textValue());
        }
    }

    private static Entry entry(Path file, String name, JsonNode node, long dataLength) throws SafeTensorsException {
        if (!node.isObject()) throw fail(file, name, "entry is not a JSON object");
        JsonNode dt = node.get("dtype"), sh = node.get("shape"), off = node.get("data_offsets");
        if (dt == null) throw fail(file, name, "missing \"dtype\"");
        if (sh == null) throw fail(file, name, "missing \"shape\"");
        if (off == null) throw fail(file, name, "missing \"data_offsets\"");
        if (!dt.isTextual()) throw fail(file, name, "\"dtype\" is not a string: " + dt);
        DType dtype = dtypeOf(dt.textValue());
        if (dtype == null) {
            throw fail(file, name, "unknown dtype \"" + dt.textValue() + "\" (memwall reads F32, F16, BF16, F8_E4M3, F8_E5M2, I32, BOOL)");
        }
        if (!sh.isArray()) throw fail(file, name, "\"shape\" is not an array: " + sh);
        int[] shape = new int[sh.size()];
        for (int k = 0; k < shape.length; k++) {
            JsonNode d = sh.get(k);
            if (!d.isIntegralNumber()) throw fail(file, name, "dimension " + k + " of shape " + sh + " is not an integer");
            if (d.bigIntegerValue().signum() < 0) throw fail(file, name, "negative dimension " + d + " in shape " + sh);
            if (!d.canConvertToInt()) throw fail(file, name, "dimension " + d + " in shape " + sh + " exceeds 2^31-1");
            shape[k] = d.intValue();
        }
        long numel = 1; // each factor < 2^31 and the running product is kept < 2^31, so this never overflows a long
        for (int d : shape) if (d == 0) numel = 0;
        for (int k = 0; k < shape.length && numel != 0; k++) {
            numel *= shape[k];
            if (numel > Integer.MAX_VALUE) throw fail(file, name, "shape " + sh + " has more than 2^31-1 elements");
        }
        if (!off.isArray() || off.size() != 2) throw fail(file, name, "\"data_offsets\" is not an array of two integers: " + off);
        long[] be = new long[2];
        for (int k = 0; k < 2; k++) {
            JsonNode o = off.get(k);
            if (!o.isIntegralNumber() || o.bigIntegerValue().signum() < 0) {
                throw fail(file, name, "\"data_offsets\" " + off + " are not non-negative integers");
            }
            if (!o.canConvertToLong() || o.longValue() > dataLength) {
                throw fail(file, name, "data_offsets " + off + " lie outside the " + dataLength + "-byte data buffer");
            }
            be[k] = o.longValue();
        }
        if (be[0] > be[1]) throw fail(file, name, "data_offsets " + off + " end before they begin");
        long bytes = numel * dtype.bytes; // numel < 2^31, so no overflow
        if (bytes != be[1] - be[0]) {
            throw fail(file, name, "dtype " + dt.textValue() + " with shape " + sh + " takes " + bytes
                    + " bytes but data_offsets " + off + " span " + (be[1] - be[0]));
        }
        return new Entry(name, dtype, shape, be[0], be[1]);
    }

    /** Reads exactly {@code buf.remaining()} bytes at {@code pos}; a short file is reported as truncated. */
    static void readFully(FileChannel ch, ByteBuffer buf, long pos, Path file, String tensor) throws IOException {
        while (buf.hasRemaining()) {
            int r = ch.read(buf, pos);
            if (r < 0) throw new SafeTensorsException(file, tensor, "file ends early (truncated while being read?)", new EOFException());
            pos += r;
        }
    }

    static SafeTensorsException fail(Path file, String tensor, String problem) {
        return new SafeTensorsException(file, tensor, problem);
    }
}
