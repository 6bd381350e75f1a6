package dev.memwall.io;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/**
 * An independent safetensors byte builder for tests: little-endian bytes are assembled by shifting, not with
 * {@code ByteBuffer}, and the header JSON is written by hand, so the reader is checked against the format rather
 * than against our own writer.
 */
final class Raw {
    private final ByteArrayOutputStream out = new ByteArrayOutputStream();

    private Raw() {
    }

    /** A file: the header's byte length, the header (padded with spaces to 8 bytes when {@code pad}), the data. */
    static byte[] file(String headerJson, boolean pad, byte[] data) {
        byte[] h = headerJson.getBytes(StandardCharsets.UTF_8);
        int n = pad ? (h.length + 7) / 8 * 8 : h.length;
        Raw r = new Raw().u64(n);
        r.out.writeBytes(h);
        for (int k = h.length; k < n; k++) r.out.write(' ');
        r.out.writeBytes(data);
        return r.bytes();
    }

    static Raw bytes(int... v) {
        Raw r = new Raw();
        for (int x : v) r.out.write(x);
        return r;
    }

    static Raw data() {
        return new Raw();
    }

    Raw u64(long v) {
        for (int k = 0; k < 8; k++) out.write((int) (v >>> (8 * k)));
        return this;
    }

    Raw i32(int... v) {
        for (int x : v) for (int k = 0; k < 4; k++) out.write(x >>> (8 * k));
        return this;
    }

    Raw f32(float... v) {
        for (float x : v) i32(Float.floatToRawIntBits(x));
        return this;
    }

    Raw u16(int... v) {
        for (int x : v) {
            out.write(x);
            out.write(x >>> 8);
        }
        return this;
    }

    Raw u8(int... v) {
        for (int x : v) out.write(x);
        return this;
    }

    byte[] bytes() {
        return out.toByteArray();
    }

    static long u64(byte[] b, int off) {
        long v = 0;
        for (int k = 7; k >= 0; k--) v = (v << 8) | (b[off + k] & 0xFF);
        return v;
    }

    static int i32(byte[] b, int off) {
        return (b[off] & 0xFF) | (b[off + 1] & 0xFF) << 8 | (b[off + 2] & 0xFF) << 16 | (b[off + 3] & 0xFF) << 24;
    }
}
