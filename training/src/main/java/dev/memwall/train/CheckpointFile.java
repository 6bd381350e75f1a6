package dev.memwall.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * One file a checkpoint's manifest names, with the size and SHA-256 it must have. A loader trusts a file only after
 * both match: a shard truncated by a crash, replaced by a stale one, or damaged on disk is refused by name.
 *
 * @param name   file name inside the step directory (no directory part)
 * @param bytes  its size
 * @param sha256 lower-case hex digest of its content, or null for format-1 checkpoints, which recorded none
 */
record CheckpointFile(String name, long bytes, String sha256) {
    CheckpointFile {
        if (name == null || name.isEmpty() || name.contains("/") || name.contains("\\") || name.startsWith(".")) {
            throw new IllegalArgumentException("not a plain file name: '" + name + "'");
        }
    }

    /** Size and digest of {@code dir/name} as it is on disk now. */
    static CheckpointFile of(Path dir, String name) throws IOException {
        Path f = dir.resolve(name);
        return new CheckpointFile(name, Files.size(f), sha256(f));
    }

    /** Refuses a file that is missing or whose size or digest differs from what {@code manifest} recorded. */
    void verify(Path dir, Path manifest) throws IOException {
        Path f = dir.resolve(name);
        if (!Files.isRegularFile(f)) throw new IOException(f + ": missing (named by " + manifest + ")");
        long size = Files.size(f);
        if (size != bytes) {
            throw new IOException(f + ": " + size + " bytes, but " + manifest + " records " + bytes + " (truncated or replaced)");
        }
        if (sha256 != null && !sha256.equals(sha256(f))) {
            throw new IOException(f + ": content does not match the SHA-256 recorded in " + manifest + " (corrupt or replaced)");
        }
    }

    ObjectNode toJson(ObjectNode o) {
        o.put("file", name).put("bytes", bytes);
        if (sha256 != null) o.put("sha256", sha256);
        return o;
    }

    static CheckpointFile fromJson(JsonNode o, Path manifest, String where) throws IOException {
        if (!o.path("file").isTextual() || !o.path("bytes").canConvertToLong() || !o.path("sha256").isTextual()) {
            throw new IOException(manifest + ": " + where + " needs \"file\", \"bytes\" and \"sha256\"");
        }
        try {
            return new CheckpointFile(o.get("file").asText(), o.get("bytes").asLong(), o.get("sha256").asText());
        } catch (IllegalArgumentException e) {
            throw new IOException(manifest + ": " + where + ": " + e.getMessage());
        }
    }

    static String sha256(Path f) throws IOException {
        MessageDigest md;
        try {
            md = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java platform has SHA-256", e);
        }
        byte[] buf = new byte[1 << 16];
        try (InputStream in = Files.newInputStream(f)) {
            for (int n; (n = in.read(buf)) > 0; ) md.update(buf, 0, n);
        }
        return HexFormat.of().formatHex(md.digest());
    }
}
