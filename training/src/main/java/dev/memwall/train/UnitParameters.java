package dev.memwall.train;

import dev.memwall.autograd.DType;
import dev.memwall.autograd.Tensor;
import dev.memwall.io.SafeTensors;
import dev.memwall.io.SafeTensorsHeader;
import dev.memwall.memory.Category;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * ZeRO stage 3's parameters in a checkpoint's {@code model.safetensors}, the same file stages 0–2 write (full
 * tensors, PyTorch names), although between steps no rank holds a full parameter. Save gathers the units one at a
 * time (COMMUNICATION: one unit) and rank 0 copies each into the tensors it writes; resume reads from the file only the
 * elements of each parameter this rank owns, into its shard array.
 */
final class UnitParameters {
    private static final int CHUNK = 1 << 16; // floats moved per read

    private UnitParameters() {
    }

    /**
     * Collective: every rank takes part in the gathers; rank 0 writes {@code file}. Rank 0 holds a copy of every
     * parameter (4Ψ bytes, TEMPORARY) until the file is written, the other ranks nothing beyond one gathered unit.
     */
    static void write(Path file, DataParallel dp) throws IOException {
        boolean writer = dp.group().rank() == 0;
        Map<String, Tensor> copies = new LinkedHashMap<>();
        try {
            dp.units().forEachGathered((name, view) -> {
                if (!writer) return;
                Tensor c = Tensor.empty(DType.FP32, Category.TEMPORARY, "checkpoint_model", view.shape());
                System.arraycopy(view.data(), view.offset(), c.data(), c.offset(), view.numel());
                copies.put(name, c);
            });
            if (writer) SafeTensors.write(file, copies, Map.of("format", "pt"));
        } finally {
            copies.values().forEach(Tensor::releaseIfAlive);
        }
    }

    /** Checks that {@code file} holds exactly the model's parameters, FP32, with their shapes; nothing is loaded. */
    static SafeTensorsHeader check(Path file, DataParallel dp) throws IOException {
        ParameterShards units = dp.units();
        SafeTensorsHeader h = SafeTensors.inspect(file);
        String[] names = units.names();
        if (h.entries().size() != names.length) {
            throw new IOException(file + ": holds " + h.entries().size() + " tensors, the model has " + names.length + " parameters");
        }
        for (int k = 0; k < names.length; k++) {
            SafeTensorsHeader.Entry e = h.entry(names[k]);
            if (e == null) throw new IOException(file + ": no tensor " + names[k] + ", a parameter of the model");
            if (e.dtype() != DType.FP32 || !Arrays.equals(e.shape(), units.shape(k))) {
                throw new IOException(file + ": " + names[k] + " is " + e + ", the model's parameter is F32"
                        + Arrays.toString(units.shape(k)));
            }
        }
        return h;
    }

    /** Reads this rank's elements of every parameter from {@code file} (checked first) into its shard array. */
    static void read(Path file, DataParallel dp) throws IOException {
        ParameterShards units = dp.units();
        SafeTensorsHeader h = check(file, dp);
        String[] names = units.names();
        var values = dp.params().values().whole();
        float[] dst = values.data();
        ByteBuffer buf = ByteBuffer.allocate(CHUNK * Float.BYTES).order(ByteOrder.LITTLE_ENDIAN);
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            for (int k = 0; k < names.length; k++) {
                int[] slice = units.ownedSlice(k); // {first element, count, index in the shard array}
                long at = h.dataStart() + h.entry(names[k]).begin() + (long) slice[0] * Float.BYTES;
                for (int done = 0; done < slice[1]; done += CHUNK) {
                    int n = Math.min(CHUNK, slice[1] - done);
                    buf.clear().limit(n * Float.BYTES);
                    while (buf.hasRemaining()) {
                        if (ch.read(buf, at + buf.position()) < 0) throw new IOException(file + ": ends inside " + names[k]);
                    }
                    buf.flip();
                    buf.asFloatBuffer().get(dst, values.offset() + slice[2] + done, n);
                    at += (long) n * Float.BYTES;
                }
            }
        }
    }
}
