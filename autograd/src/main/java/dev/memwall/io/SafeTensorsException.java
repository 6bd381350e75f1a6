package dev.memwall.io;

import java.io.IOException;
import java.nio.file.Path;

/**
 * A safetensors file that cannot be read or loaded: malformed, or not matching the tensors it is loaded into.
 *
 * <p>It is a checked {@link IOException} on purpose: a bad file is an input problem the caller must expect, just
 * like a missing file, and one {@code catch (IOException e)} covers both. The message always names the file and,
 * when the problem belongs to one tensor, that tensor: {@code "ckpt.safetensors: tensor 'wte.weight': ..."}.
 * {@link #file()} and {@link #tensor()} give the same facts to code.
 */
public final class SafeTensorsException extends IOException {
    private static final long serialVersionUID = 1L;

    private final transient Path file;
    private final String tensor;

    public SafeTensorsException(Path file, String tensor, String problem) {
        this(file, tensor, problem, null);
    }

    public SafeTensorsException(Path file, String tensor, String problem, Throwable cause) {
        super(file + ": " + (tensor != null ? "tensor '" + tensor + "': " : "") + problem, cause);
        this.file = file;
        this.tensor = tensor;
    }

    /** The file the problem was found in. */
    public Path file() {
        return file;
    }

    /** The tensor the problem belongs to, or null for a problem of the file as a whole. */
    public String tensor() {
        return tensor;
    }
}
