package dev.memwall.io;

import dev.memwall.autograd.Tensor;

import java.nio.file.Path;
import java.util.Map;

/**
 * The contents of a safetensors file as read by {@link SafeTensors#read}: the metadata and one freshly allocated
 * tensor per name, in header order, each with the file's dtype and shape.
 *
 * <p>The caller owns the tensors and releases them, one by one or all at once with {@link #close()} (which skips
 * handles already released, e.g. by an enclosing {@link dev.memwall.autograd.Scope}).
 *
 * @param file     the file that was read
 * @param metadata the {@code "__metadata__"} strings (empty when absent), unmodifiable
 * @param tensors  tensors by name in header order, unmodifiable
 */
public record SafeTensorsFile(Path file, Map<String, String> metadata, Map<String, Tensor> tensors) implements AutoCloseable {
    /** The tensor called {@code name}; throws naming the file when there is none. */
    public Tensor tensor(String name) {
        Tensor t = tensors.get(name);
        if (t == null) throw new IllegalArgumentException(file + ": no tensor '" + name + "' (has " + tensors.keySet() + ")");
        return t;
    }

    /** Releases every tensor still held. */
    @Override
    public void close() {
        for (Tensor t : tensors.values()) t.releaseIfAlive();
    }
}
