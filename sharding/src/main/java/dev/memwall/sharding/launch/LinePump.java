package dev.memwall.sharding.launch;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

/**
 * Copies one worker stream to the launcher's, line by line, each line prefixed with {@code [rank k] } and written
 * whole under the target stream's lock, so lines of different workers never interleave mid-line. Bytes are copied as
 * they are (no charset round trip). A carriage return starts the line over, as on a terminal, so a progress bar
 * redrawn in place shows its last state once instead of every redraw; a line longer than {@link #MAX_LINE} bytes is
 * cut there. With {@code captureJson}, lines that are JSON objects are kept (the last one is the rank's summary)
 * instead of being copied.
 */
final class LinePump implements Runnable {
    static final int MAX_LINE = 1 << 20; // a JSON summary is one line and must not be cut
    private static final ObjectMapper MAPPER = new ObjectMapper();

    private final InputStream in;
    private final PrintStream target;
    private final byte[] prefix;
    private final boolean captureJson;
    private volatile JsonNode lastJson;

    LinePump(InputStream in, PrintStream target, int rank, boolean captureJson) {
        this.in = in;
        this.target = target;
        this.prefix = ("[rank " + rank + "] ").getBytes(StandardCharsets.US_ASCII);
        this.captureJson = captureJson;
    }

    /** The last line that was a JSON object (only with captureJson), or null. */
    JsonNode lastJson() {
        return lastJson;
    }

    @Override
    public void run() {
        ByteArrayOutputStream line = new ByteArrayOutputStream();
        byte[] buf = new byte[8192];
        boolean carriageReturn = false;
        try (in) {
            for (int n; (n = in.read(buf)) >= 0; ) {
                for (int i = 0; i < n; i++) {
                    byte b = buf[i];
                    if (b == '\n') {
                        emit(line);
                        carriageReturn = false;
                    } else if (b == '\r') {
                        carriageReturn = true;
                    } else {
                        if (carriageReturn) line.reset(); // "\r\n" ends a line; "\r" then text redraws it
                        carriageReturn = false;
                        line.write(b);
                        if (line.size() >= MAX_LINE) emit(line);
                    }
                }
            }
        } catch (IOException e) {
            // the worker is gone and its pipe closed under us: what was read is flushed below
        }
        if (line.size() > 0) emit(line);
    }

    private void emit(ByteArrayOutputStream line) {
        if (captureJson && isJsonObject(line)) {
            line.reset();
            return;
        }
        synchronized (target) {
            target.write(prefix, 0, prefix.length);
            target.write(line.toByteArray(), 0, line.size());
            target.write('\n');
            target.flush();
        }
        line.reset();
    }

    private boolean isJsonObject(ByteArrayOutputStream line) {
        String s = line.toString(StandardCharsets.UTF_8).strip();
        if (!s.startsWith("{") || !s.endsWith("}")) return false;
        try {
            JsonNode node = MAPPER.readTree(s);
            if (node == null || !node.isObject()) return false;
            lastJson = node;
            return true;
        } catch (IOException e) {
            return false;
        }
    }
}
