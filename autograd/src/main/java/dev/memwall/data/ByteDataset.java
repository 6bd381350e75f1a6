package dev.memwall.data;

import dev.memwall.rng.Rng;

import java.io.IOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/**
 * Byte-level language-model data over the bytes of any file (or a {@code byte[]}): the vocabulary is the 256 byte
 * values, read as unsigned 0..255. A window of context {@code T} starting at byte {@code s} has inputs
 * {@code data[s, s+T)} and targets {@code data[s+1, s+T+1)}, so a dataset needs at least {@code T+1} bytes.
 *
 * <p>{@link #randomBatch} draws window starts uniformly from {@code [0, length-T-1]} with a caller's {@link Rng}
 * (deterministic for a seed and state). {@link #sequentialBatch} enumerates non-overlapping windows: window
 * {@code i} starts at {@code i*T}, and batch {@code index} holds windows {@code index*B .. index*B+B-1}.
 * {@link #split} returns views (no copy) of a leading train part and a trailing eval part.
 */
public final class ByteDataset {
    private final String name;
    private final byte[] data;
    private final int from, to;

    private ByteDataset(String name, byte[] data, int from, int to) {
        this.name = name;
        this.data = data;
        this.from = from;
        this.to = to;
    }

    /** A dataset over {@code data} (not copied). */
    public static ByteDataset of(String name, byte[] data) {
        if (data == null) throw new IllegalArgumentException("data is null");
        return new ByteDataset(name, data, 0, data.length);
    }

    public static ByteDataset of(byte[] data) {
        return of("byte[" + (data == null ? 0 : data.length) + "]", data);
    }

    /** Reads the whole of {@code file}. Fails with an IOException naming the file if it is missing, unreadable or empty. */
    public static ByteDataset open(Path file) throws IOException {
        return open(file, 0);
    }

    /**
     * Reads the whole of {@code file} and checks that it holds at least {@code context + 1} bytes (one window); with
     * {@code context == 0} only checks that it is not empty.
     */
    public static ByteDataset open(Path file, int context) throws IOException {
        if (file == null) throw new IllegalArgumentException("file is null");
        if (context < 0) throw new IllegalArgumentException("context must be non-negative: " + context);
        String where = file.toAbsolutePath().toString();
        byte[] bytes;
        try {
            if (Files.isDirectory(file)) throw new IOException("dataset file " + where + " is a directory");
            long size = Files.size(file);
            if (size > Integer.MAX_VALUE - 8) {
                throw new IOException("dataset file " + where + " has " + size + " bytes; at most " + (Integer.MAX_VALUE - 8) + " are supported");
            }
            bytes = Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            throw new IOException("dataset file " + where + " does not exist", e);
        } catch (AccessDeniedException e) {
            throw new IOException("dataset file " + where + " is not readable (access denied)", e);
        } catch (IOException e) {
            if (e.getMessage() != null && e.getMessage().startsWith("dataset file ")) throw e;
            throw new IOException("cannot read dataset file " + where + ": " + e, e);
        }
        int need = Math.max(1, context + 1);
        if (bytes.length < need) {
            throw new IOException("dataset file " + where + " has " + bytes.length + " bytes, too short: "
                    + (context > 0 ? "one window of context " + context + " needs " + need : "it is empty"));
        }
        return new ByteDataset(where, bytes, 0, bytes.length);
    }

    /** Where the bytes came from (the file's absolute path, with a [train]/[eval] suffix for splits). */
    public String name() {
        return name;
    }

    /** Number of bytes. */
    public int length() {
        return to - from;
    }

    /** Byte {@code i} as an unsigned value 0..255. */
    public int byteAt(int i) {
        if (i < 0 || i >= length()) throw new IndexOutOfBoundsException("byte " + i + " outside dataset of " + length());
        return data[from + i] & 0xFF;
    }

    /** How many full non-overlapping windows of {@code context} exist: windows i with {@code i*T + T + 1 <= length}. */
    public int sequentialWindows(int context) {
        checkContext(context);
        return length() < context + 1 ? 0 : (length() - 1) / context;
    }

    /** How many full batches {@link #sequentialBatch} can produce. */
    public int sequentialBatches(int batch, int context) {
        if (batch <= 0) throw new IllegalArgumentException("batch must be positive: " + batch);
        return sequentialWindows(context) / batch;
    }

    /** {@code batch} windows with starts drawn uniformly from {@code [0, length - context - 1]} by {@code rng}. */
    public Batch randomBatch(int batch, int context, Rng rng) {
        if (batch <= 0) throw new IllegalArgumentException("batch must be positive: " + batch);
        if (rng == null) throw new IllegalArgumentException("rng is null");
        requireWindow(context);
        int starts = length() - context;          // starts 0 .. length - context - 1
        int[] ids = new int[batch * context], targets = new int[batch * context];
        for (int r = 0; r < batch; r++) fill(rng.nextInt(starts), context, ids, targets, r * context);
        return new Batch(ids, targets, batch, context);
    }

    /** Batch {@code index}: rows r = 0..batch-1 are windows {@code i = index*batch + r}, each starting at {@code i*context}. */
    public Batch sequentialBatch(int index, int batch, int context) {
        if (batch <= 0) throw new IllegalArgumentException("batch must be positive: " + batch);
        if (index < 0) throw new IndexOutOfBoundsException("batch index must be non-negative: " + index);
        requireWindow(context);
        int windows = sequentialWindows(context);
        long last = (long) index * batch + batch - 1;
        if (last >= windows) {
            throw new IndexOutOfBoundsException("batch " + index + " of " + batch + " windows needs window " + last + ", but "
                    + name + " holds only " + windows + " windows of context " + context
                    + " (" + sequentialBatches(batch, context) + " full batches)");
        }
        int[] ids = new int[batch * context], targets = new int[batch * context];
        for (int r = 0; r < batch; r++) fill((index * batch + r) * context, context, ids, targets, r * context);
        return new Batch(ids, targets, batch, context);
    }

    /**
     * The first {@code round(length * trainFraction)} bytes as the train part and the rest as the eval part (views,
     * no copy): {@code [train, eval]}.
     */
    public ByteDataset[] split(double trainFraction) {
        if (!(trainFraction > 0 && trainFraction < 1)) {
            throw new IllegalArgumentException("trainFraction must be in (0, 1): " + trainFraction);
        }
        int cut = from + (int) Math.round(length() * trainFraction);
        return new ByteDataset[]{new ByteDataset(name + "[train]", data, from, cut), new ByteDataset(name + "[eval]", data, cut, to)};
    }

    @Override
    public String toString() {
        return "ByteDataset[" + name + ", " + length() + " bytes]";
    }

    private void fill(int start, int context, int[] ids, int[] targets, int at) {
        int base = from + start;
        for (int t = 0; t < context; t++) {
            ids[at + t] = data[base + t] & 0xFF;
            targets[at + t] = data[base + t + 1] & 0xFF;
        }
    }

    private static void checkContext(int context) {
        if (context <= 0) throw new IllegalArgumentException("context must be positive: " + context);
    }

    private void requireWindow(int context) {
        checkContext(context);
        if (length() < context + 1) {
            throw new IllegalStateException("dataset " + name + " has " + length() + " bytes, too short for one window of context "
                    + context + " (needs at least " + (context + 1) + " bytes)");
        }
    }
}
