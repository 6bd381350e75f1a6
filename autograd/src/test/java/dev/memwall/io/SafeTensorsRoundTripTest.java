package dev.memwall.io;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.memwall.autograd.DType;
import dev.memwall.autograd.FlatBuffer;
import dev.memwall.autograd.Tensor;
import dev.memwall.format.Bf16;
import dev.memwall.format.Fp16;
import dev.memwall.memory.Category;
import dev.memwall.nn.Linear;
import dev.memwall.rng.Rng;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/** Round trips of every dtype, a hand-made file read back, and the writer's output checked against the format. */
class SafeTensorsRoundTripTest {
    @TempDir
    Path dir;

    /** A tensor of {@code dtype} filled with varied raw values derived from {@code seed}. */
    static Tensor filled(DType dtype, int seed, int... shape) {
        Tensor t = Tensor.empty(dtype, Category.PARAMETER, "test", shape);
        int n = t.numel();
        switch (dtype) {
            case FP32 -> {
                float[] special = {0f, -0f, Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.MIN_VALUE, Float.MAX_VALUE};
                for (int k = 0; k < n; k++) t.data()[k] = k < special.length && seed == 0 ? special[k] : (seed * 31 + k) * 0.37f - 5f;
            }
            case FP16, BF16 -> {
                for (int k = 0; k < n; k++) t.shortData()[k] = (short) (seed * 7919 + k * 40503);
            }
            case INT32 -> {
                for (int k = 0; k < n; k++) t.intData()[k] = seed * 1_000_003 + k * -977_123;
            }
            case FP8_E4M3, FP8_E5M2 -> {
                for (int k = 0; k < n; k++) t.byteData()[k] = (byte) (seed * 13 + k * 37);
            }
            case BOOL -> {
                for (int k = 0; k < n; k++) t.byteData()[k] = (byte) ((seed + k) % 3 == 0 ? 1 : 0);
            }
        }
        return t;
    }

    /** The raw elements of {@code t}'s view, as a list of longs (bit patterns for floats). */
    static List<Long> raw(Tensor t) {
        List<Long> out = new ArrayList<>();
        int o = t.offset();
        for (int k = 0; k < t.numel(); k++) {
            out.add(switch (t.dtype()) {
                case FP32 -> (long) Float.floatToRawIntBits(t.data()[o + k]);
                case FP16, BF16 -> (long) t.shortData()[o + k];
                case INT32 -> (long) t.intData()[o + k];
                case FP8_E4M3, FP8_E5M2, BOOL -> (long) t.byteData()[o + k];
            });
        }
        return out;
    }

    @Test
    void everyDtypeRoundTripsIncludingScalarsAndEmptyTensors() throws Exception {
        Map<String, Tensor> in = new LinkedHashMap<>();
        int seed = 0;
        for (DType d : DType.values()) {
            in.put(d + ".matrix", filled(d, seed++, 3, 5));
            in.put(d + ".scalar", filled(d, seed++));
            in.put(d + ".empty", filled(d, seed++, 0));
            in.put(d + ".empty3d", filled(d, seed++, 2, 0, 3));
            in.put(d + ".odd", filled(d, seed++, 7)); // odd byte counts misalign later tensors on purpose
        }
        in.put("big", filled(DType.FP32, 99, 300, 700)); // larger than one I/O chunk
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put("format", "pt");
        meta.put("step", "1234");
        meta.put("note", "ünïcödé \"quoted\" \\ back");
        Path f = dir.resolve("all.safetensors");
        SafeTensors.write(f, in, meta);

        try (SafeTensorsFile back = SafeTensors.read(f)) {
            assertThat(back.metadata()).containsExactlyInAnyOrderEntriesOf(meta);
            assertThat(back.tensors().keySet()).containsExactlyElementsOf(in.keySet());
            for (Map.Entry<String, Tensor> e : in.entrySet()) {
                Tensor t = back.tensor(e.getKey());
                assertThat(t.dtype()).as(e.getKey()).isEqualTo(e.getValue().dtype());
                assertThat(t.shape()).as(e.getKey()).isEqualTo(e.getValue().shape());
                assertThat(raw(t)).as(e.getKey()).isEqualTo(raw(e.getValue()));
                assertThat(t.storage().category()).isEqualTo(Category.TEMPORARY);
            }
        }
        SafeTensorsHeader h = SafeTensors.inspect(f);
        assertThat(h.entry("FP16.scalar").shape()).isEmpty();
        assertThat(h.entry("BOOL.empty3d").shape()).containsExactly(2, 0, 3);
        in.values().forEach(Tensor::release);
    }

    @Test
    void noMetadataAndNoTensors() throws Exception {
        Path f = dir.resolve("empty.safetensors");
        SafeTensors.write(f, Map.of(), null);
        assertThat(new String(Files.readAllBytes(f), 8, 8, StandardCharsets.UTF_8)).isEqualTo("{}      ");
        try (SafeTensorsFile back = SafeTensors.read(f)) {
            assertThat(back.metadata()).isEmpty();
            assertThat(back.tensors()).isEmpty();
        }
    }

    @Test
    void viewsIntoAFlatBufferAreWrittenFromTheirOffset() throws Exception {
        FlatBuffer flat = new FlatBuffer(DType.FP32, Category.PARAMETER, 10, "flat");
        Tensor a = flat.allocate(2, 2), b = flat.allocate(3);
        for (int k = 0; k < 10; k++) flat.whole().data()[k] = k;
        Path f = dir.resolve("views.safetensors");
        SafeTensors.write(f, Map.of("b", b), null);
        try (SafeTensorsFile back = SafeTensors.read(f)) {
            assertThat(back.tensor("b").toFloatArray()).containsExactly(4f, 5f, 6f);
        }
        // and loads back into a view without touching its neighbours
        Arrays.fill(b.data(), b.offset(), b.offset() + 3, -1f);
        Arrays.fill(flat.whole().data(), 7, 10, 70f);
        SafeTensors.readInto(f, Map.of("b", b), "flat");
        assertThat(flat.whole().toFloatArray()).containsExactly(0f, 1f, 2f, 3f, 4f, 5f, 6f, 70f, 70f, 70f);
        assertThat(a.toFloatArray()).containsExactly(0f, 1f, 2f, 3f);
    }

    @Test
    void halfAndBfloatLoadIntoFp32TargetsDecodedExactly() throws Exception {
        Tensor h = filled(DType.FP16, 3, 4, 9), bf = filled(DType.BF16, 4, 37);
        Path f = dir.resolve("half.safetensors");
        SafeTensors.write(f, Map.of("h", h, "bf", bf), null);
        Tensor th = Tensor.empty(DType.FP32, Category.PARAMETER, "t", 4, 9), tb = Tensor.empty(DType.FP32, Category.PARAMETER, "t", 37);
        SafeTensors.readInto(f, Map.of("h", th, "bf", tb), "model");
        float[] eh = new float[36], eb = new float[37];
        Fp16.decode(h.shortData(), 0, eh, 0, 36);
        Bf16.decode(bf.shortData(), 0, eb, 0, 37);
        assertThat(th.data()).containsExactly(eh);
        assertThat(tb.data()).containsExactly(eb);
    }

    @Test
    void moduleParametersRoundTripIntoAnotherModuleAndIntoAFlattenedOne() throws Exception {
        Linear src = new Linear(6, 4, true, new Rng(1));
        src.namedParameters().get("bias").data()[2] = 0.5f;
        Path f = dir.resolve("linear.safetensors");
        SafeTensors.write(f, src.namedParameters(), Map.of("format", "pt"));
        Linear dst = new Linear(6, 4, true, new Rng(2));
        assertThat(SafeTensors.readInto(f, dst)).containsEntry("format", "pt");
        Linear flat = new Linear(6, 4, true, new Rng(3));
        flat.flatten();
        SafeTensors.readInto(f, flat);
        for (String n : src.namedParameters().keySet()) {
            float[] want = src.namedParameters().get(n).toFloatArray();
            assertThat(dst.namedParameters().get(n).toFloatArray()).as(n).containsExactly(want);
            assertThat(flat.namedParameters().get(n).toFloatArray()).as(n).containsExactly(want);
        }
    }

    /** A file assembled byte by byte: tensors out of data order, pretty JSON, unpadded header, every dtype. */
    @Test
    void handMadeFileReadsBack() throws Exception {
        String header = """
                {
                  "__metadata__": {"format": "pt", "author": "hand"},
                  "ids":   {"dtype": "I32",     "shape": [3],    "data_offsets": [16, 28]},
                  "w":     {"dtype": "F32",     "shape": [2, 2], "data_offsets": [0, 16]},
                  "half":  {"dtype": "F16",     "shape": [],     "data_offsets": [28, 30]},
                  "bf":    {"dtype": "BF16",    "shape": [2],    "data_offsets": [30, 34]},
                  "none":  {"dtype": "BF16",    "shape": [0, 5], "data_offsets": [34, 34]},
                  "e4":    {"dtype": "F8_E4M3", "shape": [2],    "data_offsets": [34, 36]},
                  "e5":    {"dtype": "F8_E5M2", "shape": [1],    "data_offsets": [36, 37]},
                  "mask":  {"dtype": "BOOL",    "shape": [1, 3], "data_offsets": [37, 40]}
                }""";
        byte[] data = Raw.data()
                .f32(1f, -2.5f, 0.125f, 1e30f)           // w
                .i32(7, -1, Integer.MIN_VALUE)           // ids
                .u16(0x3E00)                              // half: 1.5
                .u16(0xC040, 0x3F80)                      // bf: -3.0, 1.0
                .u8(0x38, 0xC0)                           // e4: 1.0, -2.0
                .u8(0x3C)                                 // e5: 1.0
                .u8(1, 0, 1)                              // mask
                .bytes();
        Path f = dir.resolve("hand.safetensors");
        Files.write(f, Raw.file(header, false, data));
        try (SafeTensorsFile back = SafeTensors.read(f)) {
            assertThat(back.metadata()).containsExactly(Map.entry("format", "pt"), Map.entry("author", "hand"));
            assertThat(back.tensors().keySet()).containsExactly("ids", "w", "half", "bf", "none", "e4", "e5", "mask");
            assertThat(back.tensor("w").shape()).containsExactly(2, 2);
            assertThat(back.tensor("w").toFloatArray()).containsExactly(1f, -2.5f, 0.125f, 1e30f);
            assertThat(back.tensor("ids").intData()).containsExactly(7, -1, Integer.MIN_VALUE);
            assertThat(back.tensor("half").shape()).isEmpty();
            assertThat(back.tensor("half").item()).isEqualTo(1.5f);
            assertThat(back.tensor("bf").toFloatArray()).containsExactly(-3f, 1f);
            assertThat(back.tensor("none").numel()).isZero();
            assertThat(back.tensor("e4").toFloatArray()).containsExactly(1f, -2f);
            assertThat(back.tensor("e5").toFloatArray()).containsExactly(1f);
            assertThat(back.tensor("mask").dtype()).isEqualTo(DType.BOOL);
            assertThat(back.tensor("mask").byteData()).containsExactly(1, 0, 1);
        }
        // the same file with a space-padded header reads the same
        Path padded = dir.resolve("padded.safetensors");
        Files.write(padded, Raw.file(header.replace("\n", ""), true, data));
        try (SafeTensorsFile back = SafeTensors.read(padded)) {
            assertThat(back.tensor("ids").intData()).containsExactly(7, -1, Integer.MIN_VALUE);
        }
    }

    /** Our writer's output, decoded by hand and with a plain JSON parser, follows the format. */
    @Test
    void writerOutputFollowsTheFormat() throws Exception {
        Map<String, Tensor> in = new LinkedHashMap<>();
        in.put("z.last-in-alphabet", Tensor.of(new float[]{1f, -2f, 3.5f}, 3));
        in.put("a.int", Tensor.ints(new int[]{5, -6}, 2));
        in.put("m.bool", filled(DType.BOOL, 1, 1, 5));
        in.put("h.half", filled(DType.FP16, 2));
        Path f = dir.resolve("spec.safetensors");
        SafeTensors.write(f, in, Map.of("k", "v"));
        byte[] b = Files.readAllBytes(f);
        long n = Raw.u64(b, 0);
        assertThat(n % 8).isZero();
        String header = new String(b, 8, (int) n, StandardCharsets.UTF_8);
        assertThat(header).startsWith("{");
        assertThat(header.stripTrailing()).endsWith("}");
        assertThat(header.substring(header.stripTrailing().length())).matches(" {0,7}");
        JsonNode root = new ObjectMapper().readTree(header);
        assertThat(root.get("__metadata__").get("k").asText()).isEqualTo("v");
        List<String> names = new ArrayList<>();
        long expected = 0;
        for (Iterator<String> it = root.fieldNames(); it.hasNext(); ) {
            String name = it.next();
            if (name.equals("__metadata__")) continue;
            names.add(name);
            JsonNode e = root.get(name);
            Tensor t = in.get(name);
            assertThat(e.get("dtype").asText()).isEqualTo(switch (t.dtype()) {
                case FP32 -> "F32";
                case INT32 -> "I32";
                case BOOL -> "BOOL";
                case FP16 -> "F16";
                default -> throw new AssertionError();
            });
            int[] shape = new int[e.get("shape").size()];
            for (int k = 0; k < shape.length; k++) shape[k] = e.get("shape").get(k).asInt();
            assertThat(shape).isEqualTo(t.shape());
            assertThat(e.get("data_offsets").get(0).asLong()).isEqualTo(expected);
            expected += t.bytes();
            assertThat(e.get("data_offsets").get(1).asLong()).isEqualTo(expected);
        }
        assertThat(names).containsExactlyElementsOf(in.keySet());
        assertThat(b.length).isEqualTo(8 + n + expected);
        int data = (int) (8 + n);
        assertThat(Float.intBitsToFloat(Raw.i32(b, data + 4))).isEqualTo(-2f);
        assertThat(Raw.i32(b, data + 12 + 4)).isEqualTo(-6);
        in.values().forEach(Tensor::release);
    }

    /** Equal contents give equal bytes: metadata keys are written sorted, whatever order the map iterates in. */
    @Test
    void metadataIsWrittenInSortedKeyOrder() throws Exception {
        Map<String, String> forward = new LinkedHashMap<>(), backward = new LinkedHashMap<>();
        forward.put("optimizer", "AdamW");
        forward.put("step", "12");
        backward.put("step", "12");
        backward.put("optimizer", "AdamW");
        Tensor t = Tensor.of(new float[]{1f, 2f}, 2);
        Path a = dir.resolve("a.safetensors"), b = dir.resolve("b.safetensors");
        SafeTensors.write(a, Map.of("t", t), forward);
        SafeTensors.write(b, Map.of("t", t), backward);
        assertThat(Files.readAllBytes(b)).isEqualTo(Files.readAllBytes(a));
        String header = new String(Files.readAllBytes(a), StandardCharsets.UTF_8);
        assertThat(header.indexOf("\"optimizer\"")).isLessThan(header.indexOf("\"step\""));
        t.release();
    }
}
