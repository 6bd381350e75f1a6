package dev.memwall.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.memwall.nn.GptConfig;
import dev.memwall.train.TrainingState;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.ParseResult;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The options of {@code train} that a {@code --save} run records (in state.json: the model's shape under "config",
 * the rest under "extra"), and their reconciliation when the run is resumed. Resuming continues the run as it was
 * saved: an option the user did not give takes the run's value, and one given with another value is an argument error
 * naming both — a resumed run never silently trains something other than what was asked.
 */
final class SavedSettings {
    /** Options recorded under "extra", with their JSON keys. {@code --digits} counts only for the addition task. */
    private static final String[][] EXTRA = {{"--data", "data"}, {"--digits", "digits"}, {"--batch", "batch"},
            {"--accum", "accum"}, {"--lr", "lr"}, {"--warmup", "warmup"}, {"--clip", "clip"}, {"--seed", "seed"},
            {"--optimizer", "optimizer"}, {"--hessian-power", "hessian_power"}, {"--block-length", "block_length"},
            {"--update-each", "update_each"}, {"--n-samples", "n_samples"},
            {"--optimizer-state", "optimizer_state"}};

    /** What resuming decided: the length of the learning-rate schedule, and notes for the user. */
    record Resumed(int scheduleSteps, List<String> notes) {
    }

    private SavedSettings() {
    }

    /**
     * The "extra" settings of a checkpoint: the options above as they are now, {@code steps} (where this invocation
     * stops) and {@code schedule_steps} (the length of the warm-up/cosine schedule, which outlives an extension).
     */
    static ObjectNode record(CommandSpec spec, int steps, int scheduleSteps) {
        ObjectNode o = Json.MAPPER.createObjectNode();
        for (String[] e : EXTRA) {
            Object v = spec.findOption(e[0]).getValue();
            if (v instanceof Path p) o.put(e[1], p.toAbsolutePath().normalize().toString());
            else o.set(e[1], Json.MAPPER.valueToTree(v));
        }
        o.put("steps", steps);
        o.put("schedule_steps", scheduleSteps);
        return o;
    }

    /**
     * Gives every option the user left out the run's value, and refuses (exit 2) options given with another value.
     * {@code --steps} may differ: fewer stops early, more extends the run at the schedule's final learning rate.
     */
    static Resumed reconcile(CommandSpec spec, TrainingState.Info info) {
        ParseResult given = spec.commandLine().getParseResult();
        Path stateFile = info.directory().resolve("state.json");
        GptConfig c = info.config();
        JsonNode extra = info.extra();
        Map<String, JsonNode> saved = new LinkedHashMap<>();
        saved.put("--layers", Json.MAPPER.valueToTree(c.layers()));
        saved.put("--dim", Json.MAPPER.valueToTree(c.dim()));
        saved.put("--heads", Json.MAPPER.valueToTree(c.heads()));
        saved.put("--ctx", Json.MAPPER.valueToTree(c.context()));
        saved.put("--dropout", Json.MAPPER.valueToTree(c.dropout()));
        boolean additionTask = extra.path("data").isNull() || extra.path("data").isMissingNode();
        for (String[] e : EXTRA) {
            if (e[0].equals("--digits") && !additionTask) continue;
            saved.put(e[0], extra.get(e[1]));
        }
        List<String> disagree = new ArrayList<>(), notes = new ArrayList<>();
        for (Map.Entry<String, JsonNode> e : saved.entrySet()) {
            OptionSpec option = spec.findOption(e.getKey());
            if (e.getValue() == null) { // a checkpoint written before this option was recorded
                notes.add(String.format("note: %s does not record %s; using %s", stateFile, e.getKey(), option.getValue()));
                continue;
            }
            Object value = convert(e.getValue(), option.type());
            if (!given.hasMatchedOption(e.getKey())) {
                option.setValue(value);
            } else if (!same(option.getValue(), value)) {
                disagree.add(String.format("%s %s disagrees with the run's %s", e.getKey(),
                        given.matchedOption(e.getKey()).stringValues().get(0), value == null ? "addition task (no --data)" : value));
            }
        }
        if (!disagree.isEmpty()) {
            throw new CommandLine.ParameterException(spec.commandLine(), String.join("; ", disagree) + " (" + stateFile
                    + "). --resume continues the run as saved: leave these options out, or start a new run without --resume");
        }
        int steps = (Integer) spec.findOption("--steps").getValue();
        if (!given.hasMatchedOption("--steps") && extra.path("steps").canConvertToInt()) {
            steps = extra.get("steps").asInt();
            spec.findOption("--steps").setValue(steps);
        }
        int scheduleSteps = extra.path("schedule_steps").canConvertToInt() ? extra.get("schedule_steps").asInt()
                : extra.path("steps").canConvertToInt() ? extra.get("steps").asInt() : steps;
        if (steps > scheduleSteps) {
            notes.add(String.format("note: --steps %d extends the run's %d-step learning-rate schedule; steps after %d keep its "
                    + "final learning rate", steps, scheduleSteps, scheduleSteps));
        }
        return new Resumed(scheduleSteps, notes);
    }

    private static Object convert(JsonNode v, Class<?> type) {
        if (v.isNull()) return null;
        if (type == int.class || type == Integer.class) return v.asInt();
        if (type == long.class || type == Long.class) return v.asLong();
        if (type == float.class || type == Float.class) return (float) v.asDouble();
        if (type == double.class || type == Double.class) return v.asDouble();
        if (type == Path.class) return Path.of(v.asText());
        if (type == String.class) return v.asText();
        throw new IllegalStateException("no conversion of a saved setting to " + type);
    }

    /** Equal values; paths are equal when they name the same file from here. */
    private static boolean same(Object given, Object saved) {
        if (given instanceof String a && saved instanceof String b) return a.equalsIgnoreCase(b);
        if (given instanceof Path a && saved instanceof Path b) {
            return a.toAbsolutePath().normalize().equals(b.toAbsolutePath().normalize());
        }
        return java.util.Objects.equals(given, saved);
    }
}
