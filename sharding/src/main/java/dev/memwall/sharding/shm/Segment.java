package dev.memwall.sharding.shm;

import java.io.IOException;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;

/**
 * One rank's memory-mapped segment file: a 4 KiB header of control words, then two data regions of
 * {@code slotFloats} floats each, IN (the rank's contribution) and OUT (its share of a reduced result).
 *
 * <p>Only the owning rank writes its segment (peers map it read-only). Control words sit on their own 64-byte lines
 * and are read with acquire and written with release through a {@link VarHandle} view, so a peer that sees a new
 * sequence number also sees the data written before it (agrona's ordered put / volatile get idiom).
 */
final class Segment implements AutoCloseable {
    static final long MAGIC = 0x4d454d57414c4c31L; // "MEMWALL1"
    static final int VERSION = 1;
    static final int HEADER_BYTES = 4096;
    static final int TOKEN_BYTES = 16;

    private static final int MAGIC_AT = 0;
    private static final int VERSION_AT = 8;
    private static final int WORLD_AT = 12;
    private static final int RANK_AT = 16;
    private static final int SLOT_AT = 20;
    private static final int PID_AT = 24;
    private static final int TOKEN_AT = 32;
    private static final int READY_AT = 64;
    private static final int HEARTBEAT_AT = 128;
    private static final int SEQ_AT = 192;
    private static final int CLOSED_AT = 256;
    /** What the rank is calling: collective number, kind, length and root (checked against every peer's). */
    private static final int OP_AT = 320;

    private static final VarHandle LONGS = MethodHandles.byteBufferViewVarHandle(long[].class, ByteOrder.nativeOrder());

    final Path file;
    final int slotFloats;
    private final MappedByteBuffer map;
    /** IN at [0, slotFloats), OUT at [slotFloats, 2·slotFloats). */
    final FloatBuffer data;
    /** The same two regions as 16-bit elements: IN at [0, 2·slotFloats), OUT at [2·slotFloats, 4·slotFloats). */
    final java.nio.ShortBuffer shorts;

    private Segment(Path file, MappedByteBuffer map, int slotFloats) {
        this.file = file;
        this.map = map;
        this.slotFloats = slotFloats;
        this.data = map.duplicate().position(HEADER_BYTES).slice().order(ByteOrder.nativeOrder()).asFloatBuffer();
        this.shorts = map.duplicate().position(HEADER_BYTES).slice().order(ByteOrder.nativeOrder()).asShortBuffer();
    }

    static long bytes(int slotFloats) {
        return HEADER_BYTES + 8L * slotFloats;
    }

    /**
     * Creates {@code file} with owner-only permissions (0600, set at creation so it is never readable by others),
     * fills in the header and publishes it as ready last.
     */
    static Segment create(Path file, int worldSize, int rank, int slotFloats, byte[] token) throws IOException {
        Files.createFile(file, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
        MappedByteBuffer map;
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            map = ch.map(FileChannel.MapMode.READ_WRITE, 0, bytes(slotFloats));
        }
        map.order(ByteOrder.nativeOrder());
        map.putLong(MAGIC_AT, MAGIC).putInt(VERSION_AT, VERSION).putInt(WORLD_AT, worldSize).putInt(RANK_AT, rank)
                .putInt(SLOT_AT, slotFloats).putLong(PID_AT, ProcessHandle.current().pid());
        map.put(TOKEN_AT, token);
        Segment s = new Segment(file, map, slotFloats);
        LONGS.setRelease(map, READY_AT, 1L);
        return s;
    }

    /** Maps a peer's segment read-only, or returns null while it is missing, short or not yet published. */
    static Segment openIfReady(Path file) throws IOException {
        if (!Files.exists(file) || Files.size(file) < HEADER_BYTES) return null;
        MappedByteBuffer header;
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            header = ch.map(FileChannel.MapMode.READ_ONLY, 0, HEADER_BYTES);
            header.order(ByteOrder.nativeOrder());
            if ((long) LONGS.getAcquire(header, READY_AT) != 1L) return null;
            int slot = header.getInt(SLOT_AT);
            if (slot < 0 || ch.size() < bytes(slot)) return null;
            MappedByteBuffer map = ch.map(FileChannel.MapMode.READ_ONLY, 0, bytes(slot));
            map.order(ByteOrder.nativeOrder());
            return new Segment(file, map, slot);
        }
    }

    long magic() {
        return map.getLong(MAGIC_AT);
    }

    int version() {
        return map.getInt(VERSION_AT);
    }

    int worldSize() {
        return map.getInt(WORLD_AT);
    }

    int rank() {
        return map.getInt(RANK_AT);
    }

    long pid() {
        return map.getLong(PID_AT);
    }

    byte[] token() {
        byte[] t = new byte[TOKEN_BYTES];
        map.get(TOKEN_AT, t);
        return t;
    }

    long heartbeat() {
        return (long) LONGS.getAcquire(map, HEARTBEAT_AT);
    }

    void beat(long value) {
        LONGS.setRelease(map, HEARTBEAT_AT, value);
    }

    /** How many barriers this rank has arrived at. */
    long seq() {
        return (long) LONGS.getAcquire(map, SEQ_AT);
    }

    /** Arrives at barrier {@code value}: every write to this segment before it is visible to a peer that sees it. */
    void arrive(long value) {
        LONGS.setRelease(map, SEQ_AT, value);
    }

    boolean closed() {
        return (long) LONGS.getAcquire(map, CLOSED_AT) != 0;
    }

    void markClosed() {
        LONGS.setRelease(map, CLOSED_AT, 1L);
    }

    /** Publishes the collective this rank is entering; made visible to peers by the next {@link #arrive}. */
    void describe(long number, int kind, long count, int root) {
        map.putLong(OP_AT, number).putLong(OP_AT + 8, kind).putLong(OP_AT + 16, count).putLong(OP_AT + 24, root);
    }

    long[] description() {
        return new long[] {map.getLong(OP_AT), map.getLong(OP_AT + 8), map.getLong(OP_AT + 16), map.getLong(OP_AT + 24)};
    }

    /**
     * Unmaps now rather than when the garbage collector finds the buffer, so a closed group's pages go back at once.
     * Only safe when no thread will touch the segment again; otherwise leave it to the collector.
     */
    @Override
    public void close() {
        try {
            Class<?> unsafeClass = Class.forName("sun.misc.Unsafe");
            Field f = unsafeClass.getDeclaredField("theUnsafe");
            f.setAccessible(true);
            Method clean = unsafeClass.getMethod("invokeCleaner", ByteBuffer.class);
            clean.invoke(f.get(null), map);
        } catch (ReflectiveOperationException | RuntimeException e) {
            // Not available on this JVM: the collector unmaps it later; nothing else depends on it.
        }
    }
}
