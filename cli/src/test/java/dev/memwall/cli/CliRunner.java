package dev.memwall.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.memwall.memory.MemoryTracker;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;

/**
 * Runs {@link Main#run} in-process with stdout and stderr captured (and always restored). {@link #run} gives each
 * call a fresh {@link MemoryTracker}, as a new process would have; {@link Main#run} installs its own as well
 * ({@code TrainCommandTest.memoryFiguresDoNotIncludeEarlierRunsInTheSameJvm} checks that runs sharing one do not see
 * each other's bytes).
 */
final class CliRunner {
    static final ObjectMapper MAPPER = new ObjectMapper();

    private CliRunner() {
    }

    /** The exit code and everything the command printed. */
    record Result(int exit, String out, String err, String[] args) {
        List<String> errLines() {
            return Arrays.stream(err.split("\\R")).filter(l -> !l.isBlank()).toList();
        }

        List<String> outLines() {
            return Arrays.stream(out.split("\\R")).filter(l -> !l.isBlank()).toList();
        }

        /** The last non-blank line of stdout parsed as one JSON object. */
        JsonNode lastJson() {
            List<String> lines = outLines();
            if (lines.isEmpty()) throw new AssertionError("no stdout; " + this);
            try {
                JsonNode n = MAPPER.readTree(lines.get(lines.size() - 1));
                if (n == null || !n.isObject()) throw new AssertionError("last stdout line is not a JSON object: " + lines.get(lines.size() - 1));
                return n;
            } catch (java.io.IOException e) {
                throw new AssertionError("last stdout line is not JSON: " + lines.get(lines.size() - 1), e);
            }
        }

        @Override
        public String toString() {
            return "memwall " + String.join(" ", args) + " -> exit " + exit + "\n--- stdout ---\n" + out + "\n--- stderr ---\n" + err;
        }
    }

    static Result run(String... args) {
        try (MemoryTracker.Installed fresh = MemoryTracker.install(new MemoryTracker())) {
            return runInCurrentTracker(args);
        }
    }

    /** Like {@link #run} but in whatever tracker is current. */
    static Result runInCurrentTracker(String... args) {
        PrintStream oldOut = System.out, oldErr = System.err;
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        int exit;
        try {
            System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
            System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
            exit = Main.run(args);
            System.out.flush();
            System.err.flush();
        } finally {
            System.setOut(oldOut);
            System.setErr(oldErr);
        }
        return new Result(exit, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8), args.clone());
    }

    /** Concatenates argument groups. */
    static String[] args(String[] base, String... more) {
        String[] all = Arrays.copyOf(base, base.length + more.length);
        System.arraycopy(more, 0, all, base.length, more.length);
        return all;
    }
}
