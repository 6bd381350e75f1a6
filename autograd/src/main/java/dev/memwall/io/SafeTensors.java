package dev.memwall.io;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.memwall.autograd.DType;
import dev.memwall.autograd.Tensor;
import dev.memwall.format.Bf16;
import dev.memwall.format.Fp16;
import dev.memwall.memory.Category;
import dev.memwall.nn.Module;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;

/**
 * Reads and writes the safetensors format of PyTorch / Hugging Face: an 8-byte little-endian header length N, N
 * bytes of UTF-8 JSON mapping each tensor name to its dtype, shape and {@code data_offsets} (plus an optional
 * {@code "__metadata__"} object of strings), then the little-endian, row-major tensor bytes.
 *
 * <p>Reading validates the whole header against the file (see {@link SafeTensorsHeader}) before any tensor is
 * allocated, and {@link #readInto} also validates names, shapes and dtypes against the targets before any of them is
 * written; the first problem is thrown as a {@link SafeTensorsException} naming the file and the tensor. Writing goes
 * to a temporary file in the same directory, is forced to disk, then atomically renamed over the destination.
 */
public final class SafeTensors {
    /** The op name under which {@link #read} allocates. */
    public static final String OP = "safetensors";
    private static final int CHUNK = 1 << 18; // bytes moved per FileChannel call

    private SafeTensors() {
    }

    // ---------------------------------------------------------------- writing

    /**
     * Writes {@code tensors} (in map order, offsets contiguous from 0, each from its {@link Tensor#offset()} view)
     * and {@code metadata} (may be null; keys in sorted order, so equal contents give equal bytes) to {@code file},
     * atomically: either the complete new file is under that name afterwards or the old one (if any) is untouched,
     * and no temporary file is left behind.
     *
     * @throws IllegalArgumentException for a null tensor, a null or reserved ({@code "__metadata__"}) name, a null
     *                                  metadata key or value; nothing touches the disk then
     * @throws SafeTensorsException     when a tensor cannot be written (e.g. it was released), naming it
     * @throws IOException              when the file system fails (the destination is then unchanged)
     */
    public static void write(Path file, Map<String, Tensor> tensors, Map<String, String> metadata) throws IOException {
        Objects.requireNonNull(file, "file");
        Objects.requireNonNull(tensors, "tensors");
        byte[] header = header(tensors, metadata);
        AtomicFiles.write(file, ch -> {
            ByteBuffer buf = ByteBuffer.allocate(CHUNK).order(ByteOrder.LITTLE_ENDIAN);
            buf.putLong(header.length).flip();
            AtomicFiles.writeFully(ch, buf);
            AtomicFiles.writeFully(ch, ByteBuffer.wrap(header));
            for (Map.Entry<String, Tensor> e : tensors.entrySet()) writeTensor(ch, buf, file, e.getKey(), e.getValue());
        });
    }

    /** The JSON header, padded with spaces to a multiple of 8 bytes. */
    static byte[] header(Map<String, Tensor> tensors, Map<String, String> metadata) {
        ObjectNode root = SafeTensorsHeader.JSON.createObjectNode();
        if (metadata != null && !metadata.isEmpty()) {
            // Keys in sorted order, not the map's: Map.of iterates in an order that changes from JVM to JVM, and the
            // same state must give the same bytes (a resumed run's checkpoint is compared byte for byte).
            Map<String, String> sorted = new TreeMap<>();
            metadata.forEach((k, v) -> {
                if (k == null || v == null) throw new IllegalArgumentException("metadata keys and values must not be null: " + k + "=" + v);
                sorted.put(k, v);
            });
            ObjectNode m = root.putObject(SafeTensorsHeader.METADATA_KEY);
            sorted.forEach(m::put);
        }
        long pos = 0;
        for (Map.Entry<String, Tensor> e : tensors.entrySet()) {
            String name = e.getKey();
            Tensor t = e.getValue();
            if (name == null) throw new IllegalArgumentException("tensor names must not be null");
            if (name.equals(SafeTensorsHeader.METADATA_KEY)) throw new IllegalArgumentException("'" + name + "' is reserved and cannot name a tensor");
            if (t == null) throw new IllegalArgumentException("tensor '" + name + "' is null");
            ObjectNode node = root.putObject(name);
            node.put("dtype", SafeTensorsHeader.dtypeName(t.dtype()));
            ArrayNode shape = node.putArray("shape");
            for (int d : t.shape()) shape.add(d);
            node.putArray("data_offsets").add(pos).add(pos + t.bytes());
            pos += t.bytes();
        }
        byte[] json;
        try {
            json = SafeTensorsHeader.JSON.writeValueAsBytes(root);
        } catch (IOException e) {
            throw new IllegalStateException("cannot serialise the safetensors header", e);
        }
        int padded = (json.length + 7) & ~7;
        if (padded > SafeTensorsHeader.MAX_HEADER_BYTES) {
            throw new IllegalArgumentException("header of " + padded + " bytes exceeds the limit of " + SafeTensorsHeader.MAX_HEADER_BYTES);
        }
        byte[] out = Arrays.copyOf(json, padded);
        Arrays.fill(out, json.length, padded, (byte) ' ');
        return out;
    }

    private static void writeTensor(FileChannel ch, ByteBuffer buf, Path file, String name, Tensor t) throws IOException {
        try {
            t.checkAlive("safetensors write");
            DType dt = t.dtype();
            int n = t.numel(), off = t.offset(), per = dt.bytes, max = buf.capacity() / per;
            for (int done = 0; done < n; done += max) {
                int k = Math.min(max, n - done);
                buf.clear();
                switch (dt) {
                    case FP32 -> buf.asFloatBuffer().put(t.data(), off + done, k);
                    case FP16, BF16 -> buf.asShortBuffer().put(t.shortData(), off + done, k);
                    case INT32 -> buf.asIntBuffer().put(t.intData(), off + done, k);
                    case FP8_E4M3, FP8_E5M2, BOOL -> buf.put(t.byteData(), off + done, k);
                }
                buf.position(0).limit(k * per);
                AtomicFiles.writeFully(ch, buf);
            }
        } catch (IllegalStateException e) {
            throw new SafeTensorsException(file, name, "cannot be written: " + e.getMessage(), e);
        }
    }

    // ---------------------------------------------------------------- reading

    /** The validated header of {@code file}, without reading any tensor data. */
    public static SafeTensorsHeader inspect(Path file) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            return SafeTensorsHeader.read(file, ch);
        }
    }

    /** {@link #read(Path, Category)} into TEMPORARY tensors. */
    public static SafeTensorsFile read(Path file) throws IOException {
        return read(file, Category.TEMPORARY);
    }

    /**
     * Reads every tensor of {@code file} into a new tensor of the file's dtype and shape, accounted under
     * {@code category} and attributed to {@value #OP}; the caller releases them (see {@link SafeTensorsFile#close()}).
     * Nothing is allocated until the header has been validated against the file size.
     */
    public static SafeTensorsFile read(Path file, Category category) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            SafeTensorsHeader h = SafeTensorsHeader.read(file, ch);
            Map<String, Tensor> out = new LinkedHashMap<>();
            try {
                ByteBuffer buf = ByteBuffer.allocate(CHUNK).order(ByteOrder.LITTLE_ENDIAN);
                for (SafeTensorsHeader.Entry e : h.entries()) {
                    Tensor t = Tensor.empty(e.dtype(), category, OP, e.shape()).name(e.name());
                    out.put(e.name(), t);
                    readTensor(ch, buf, null, file, h.dataStart() + e.begin(), e, t);
                }
            } catch (Throwable x) {
                for (Tensor t : out.values()) t.releaseIfAlive();
                throw x;
            }
            return new SafeTensorsFile(file, h.metadata(), Collections.unmodifiableMap(out));
        }
    }

    /** {@link #readInto(Path, Map, String)} into the module's {@link Module#namedParameters()}. */
    public static Map<String, String> readInto(Path file, Module module) throws IOException {
        return readInto(file, module.namedParameters(), module.getClass().getSimpleName());
    }

    /**
     * Loads the tensors of {@code file} by name into the existing {@code targets} (their {@link Tensor#offset()}
     * views; flat-buffer views are fine) and returns the file's metadata. {@code what} names the targets in messages
     * ("model", "optimizer state").
     *
     * <p>Everything is checked before anything is written, and the first problem is thrown naming the tensor: the
     * header (see {@link SafeTensorsHeader}), then names in {@code targets} missing from the file, names in the file
     * missing from {@code targets}, then per tensor a released target, a shape mismatch, or a dtype that does not
     * convert. F32, F16 and BF16 load into FP32 targets (decoded exactly); every other pair must match. When a
     * problem is found the targets are untouched. Only an I/O failure while the data is being read (the file shrunk
     * or the disk failed after validation) can leave them partly loaded.
     */
    public static Map<String, String> readInto(Path file, Map<String, Tensor> targets, String what) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            SafeTensorsHeader h = SafeTensorsHeader.read(file, ch);
            boolean convert = check(file, h, targets, what);
            ByteBuffer buf = ByteBuffer.allocate(CHUNK).order(ByteOrder.LITTLE_ENDIAN);
            short[] scratch = convert ? new short[CHUNK / 2] : null;
            for (SafeTensorsHeader.Entry e : h.entries()) {
                readTensor(ch, buf, scratch, file, h.dataStart() + e.begin(), e, targets.get(e.name()));
            }
            return h.metadata();
        }
    }

    /**
     * Every check of {@link #readInto(Path, Map, String)} without loading anything: lets a caller validate several
     * files before loading any of them.
     */
    public static void checkInto(Path file, Map<String, Tensor> targets, String what) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            check(file, SafeTensorsHeader.read(file, ch), targets, what);
        }
    }

    /** Validates names, shapes and dtypes against the targets; returns whether any tensor needs decoding. */
    private static boolean check(Path file, SafeTensorsHeader h, Map<String, Tensor> targets, String what) throws IOException {
        Objects.requireNonNull(targets, "targets");
        String of = what != null ? what : "the targets";
        Map<String, SafeTensorsHeader.Entry> byName = new HashMap<>();
        for (SafeTensorsHeader.Entry e : h.entries()) byName.put(e.name(), e);
        long missing = targets.keySet().stream().filter(n -> !byName.containsKey(n)).count();
        for (String name : targets.keySet()) {
            if (!byName.containsKey(name)) {
                throw SafeTensorsHeader.fail(file, name, "required by " + of + " but not in the file"
                        + (missing > 1 ? " (" + missing + " tensors missing)" : ""));
            }
        }
        long unexpected = h.entries().stream().filter(e -> !targets.containsKey(e.name())).count();
        for (SafeTensorsHeader.Entry e : h.entries()) {
            if (!targets.containsKey(e.name())) {
                throw SafeTensorsHeader.fail(file, e.name(), "in the file but not in " + of
                        + (unexpected > 1 ? " (" + unexpected + " unexpected tensors)" : ""));
            }
        }
        boolean convert = false;
        for (SafeTensorsHeader.Entry e : h.entries()) {
            Tensor t = targets.get(e.name());
            if (t == null || t.isReleased()) throw SafeTensorsHeader.fail(file, e.name(), "the target in " + of + " is null or released");
            if (!Arrays.equals(t.shape(), e.shape())) {
                throw SafeTensorsHeader.fail(file, e.name(), "has shape " + Arrays.toString(e.shape()) + " in the file but "
                        + Arrays.toString(t.shape()) + " in " + of);
            }
            if (e.dtype() != t.dtype()) {
                if (t.dtype() != DType.FP32 || (e.dtype() != DType.FP16 && e.dtype() != DType.BF16)) {
                    throw SafeTensorsHeader.fail(file, e.name(), "dtype " + SafeTensorsHeader.dtypeName(e.dtype())
                            + " in the file cannot be loaded into the " + t.dtype() + " tensor of " + of
                            + " (only F16 and BF16 convert, to FP32; other dtypes must match)");
                }
                convert = true;
            }
        }
        return convert;
    }

    /** Reads entry {@code e}, whose bytes start at {@code pos} in the file, into {@code dst}'s view. */
    private static void readTensor(FileChannel ch, ByteBuffer buf, short[] scratch, Path file, long pos,
                                   SafeTensorsHeader.Entry e, Tensor dst) throws IOException {
        DType src = e.dtype();
        boolean decode = src != dst.dtype(); // F16/BF16 -> FP32, checked by the caller
        int n = dst.numel(), off = dst.offset(), per = src.bytes, max = buf.capacity() / per;
        for (int done = 0; done < n; done += max) {
            int k = Math.min(max, n - done);
            buf.clear().limit(k * per);
            SafeTensorsHeader.readFully(ch, buf, pos + (long) done * per, file, e.name());
            buf.flip();
            switch (src) {
                case FP32 -> buf.asFloatBuffer().get(dst.data(), off + done, k);
                case INT32 -> buf.asIntBuffer().get(dst.intData(), off + done, k);
                case FP8_E4M3, FP8_E5M2, BOOL -> buf.get(dst.byteData(), off + done, k);
                case FP16, BF16 -> {
                    if (!decode) {
                        buf.asShortBuffer().get(dst.shortData(), off + done, k);
                    } else {
                        buf.asShortBuffer().get(scratch, 0, k);
                        if (src == DType.FP16) Fp16.decode(scratch, 0, dst.data(), off + done, k);
                        else Bf16.decode(scratch, 0, dst.data(), off + done, k);
                    }
                }
            }
        }
    }
}
