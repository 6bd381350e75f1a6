package dev.memwall.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.memwall.io.AtomicFiles;
import dev.memwall.io.SafeTensors;
import dev.memwall.nn.GptConfig;
import dev.memwall.rng.Rng;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;

/**
 * Saves and resumes everything a run needs to continue bit-identically: model weights and optimizer state
 * (safetensors), the step, the learning rate, the model config, and the state of every RNG (JSON).
 *
 * <p>Layout: {@code DIR/step-000123/{model,optimizer}.safetensors + state.json}, and {@code DIR/latest} naming the
 * newest complete checkpoint. Every file is written to a temporary name, fsynced and renamed; {@code latest} is
 * replaced last, so a crash at any point leaves the previous checkpoint intact and pointed to. The two newest
 * checkpoints are kept.
 */
public final class TrainingState {
    public static final int FORMAT = 1;
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int KEEP = 2;

    private TrainingState() {
    }

    /** What a checkpoint says about the run, read before anything is loaded. */
    public record Info(Path directory, long step, GptConfig config, JsonNode extra) {
    }

    /** Writes a checkpoint of {@code trainer} with the given named RNGs and free-form {@code extra} settings. */
    public static Path save(Path dir, Trainer trainer, Map<String, Rng> rngs, ObjectNode extra) throws IOException {
        Files.createDirectories(dir);
        String name = String.format("step-%06d", trainer.completedSteps());
        Path target = dir.resolve(name);
        Files.createDirectories(target);
        SafeTensors.write(target.resolve("model.safetensors"), trainer.model().namedParameters(), Map.of("format", "memwall"));
        SafeTensors.write(target.resolve("optimizer.safetensors"), trainer.optimizer().stateTensors(),
                Map.of("optimizer", trainer.optimizer().getClass().getSimpleName(), "step", Long.toString(trainer.optimizer().stepCount())));
        ObjectNode state = JSON.createObjectNode();
        state.put("format", FORMAT);
        state.put("step", trainer.completedSteps());
        state.put("optimizer", trainer.optimizer().getClass().getSimpleName());
        state.put("optimizer_step", trainer.optimizer().stepCount());
        state.put("lr", trainer.optimizer().lr());
        GptConfig c = trainer.model().config();
        ObjectNode cfg = state.putObject("config");
        cfg.put("vocab", c.vocab()).put("context", c.context()).put("dim", c.dim()).put("heads", c.heads())
                .put("layers", c.layers()).put("dropout", c.dropout());
        ObjectNode r = state.putObject("rng");
        new TreeMap<>(rngs).forEach((k, rng) -> { // sorted: the same state gives the same bytes whatever the map's order
            Rng.State s = rng.state();
            r.putObject(k).put("seed", s.seed()).put("counter", s.counter());
        });
        state.set("extra", extra == null ? JSON.createObjectNode() : extra);
        AtomicFiles.write(target.resolve("state.json"), JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(state));
        AtomicFiles.write(dir.resolve("latest"), (name + "\n").getBytes(StandardCharsets.UTF_8));
        prune(dir, name);
        return target;
    }

    /** Whether {@code dir} holds a saved run: a {@code latest} file naming its newest checkpoint. */
    public static boolean holdsRun(Path dir) {
        return Files.isRegularFile(dir.resolve("latest"));
    }

    /**
     * Deletes the saved run in {@code dir} (its {@code latest} file and {@code step-NNNNNN} directories) and nothing
     * else, so that a new run saved there does not share the directory with an old one.
     */
    public static void clear(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) return;
        Files.deleteIfExists(dir.resolve("latest"));
        List<Path> steps = new ArrayList<>();
        try (Stream<Path> s = Files.list(dir)) {
            s.filter(p -> p.getFileName().toString().matches("step-\\d{6,}") && Files.isDirectory(p)).forEach(steps::add);
        }
        for (Path step : steps) deleteStep(step);
    }

    /** Reads what the newest checkpoint in {@code dir} describes, without loading tensors. */
    public static Info inspect(Path dir) throws IOException {
        Path latest = dir.resolve("latest");
        if (!Files.isRegularFile(latest)) {
            throw new IOException(dir + ": not a directory of saved training state (no 'latest' file; train --save writes one)");
        }
        String name = Files.readString(latest, StandardCharsets.UTF_8).trim();
        if (!name.matches("step-\\d{6,}")) throw new IOException(latest + ": does not name a checkpoint: '" + name + "'");
        return inspectStep(dir.resolve(name));
    }

    /** Reads what one checkpoint ({@code DIR/step-NNNNNN}) describes, without loading tensors. */
    public static Info inspectStep(Path target) throws IOException {
        Path stateFile = target.resolve("state.json");
        if (!Files.isRegularFile(stateFile)) throw new IOException(stateFile + ": missing");
        JsonNode state;
        try {
            state = JSON.readTree(stateFile.toFile());
        } catch (IOException e) {
            throw new IOException(stateFile + ": not valid JSON (" + e.getMessage() + ")", e);
        }
        if (state.path("format").asInt(-1) != FORMAT) throw new IOException(stateFile + ": unsupported format " + state.path("format"));
        JsonNode c = state.path("config");
        for (String k : new String[]{"vocab", "context", "dim", "heads", "layers"}) {
            if (!c.path(k).canConvertToInt()) throw new IOException(stateFile + ": config." + k + " missing or not an integer");
        }
        GptConfig config = new GptConfig(c.get("vocab").asInt(), c.get("context").asInt(), c.get("dim").asInt(),
                c.get("heads").asInt(), c.get("layers").asInt(), (float) c.path("dropout").asDouble(0));
        return new Info(target, state.path("step").asLong(), config, state.path("extra"));
    }

    /**
     * Loads the newest checkpoint into {@code trainer} (whose model must have the checkpoint's config) and restores
     * the named RNGs. Everything is validated before anything is changed.
     */
    public static Info resume(Path dir, Trainer trainer, Map<String, Rng> rngs) throws IOException {
        Info info = inspect(dir);
        if (!info.config().equals(trainer.model().config())) {
            throw new IOException(dir + ": checkpoint is for model " + info.config() + ", not " + trainer.model().config());
        }
        JsonNode state = JSON.readTree(info.directory().resolve("state.json").toFile());
        String optimizer = state.path("optimizer").asText();
        if (!optimizer.equals(trainer.optimizer().getClass().getSimpleName())) {
            throw new IOException(dir + ": checkpoint holds " + optimizer + " state, this run uses " + trainer.optimizer().getClass().getSimpleName());
        }
        for (String k : rngs.keySet()) {
            JsonNode r = state.path("rng").path(k);
            if (!r.path("seed").canConvertToLong() || !r.path("counter").canConvertToLong()) {
                throw new IOException(info.directory().resolve("state.json") + ": rng." + k + " missing");
            }
        }
        // Both safetensors files are validated against their targets before either is loaded.
        Path model = info.directory().resolve("model.safetensors"), opt = info.directory().resolve("optimizer.safetensors");
        SafeTensors.checkInto(model, trainer.model().namedParameters(), "the model");
        SafeTensors.checkInto(opt, trainer.optimizer().stateTensors(), "the optimizer state");
        SafeTensors.readInto(model, trainer.model().namedParameters(), "the model");
        SafeTensors.readInto(opt, trainer.optimizer().stateTensors(), "the optimizer state");
        trainer.setCompletedSteps(info.step());
        trainer.optimizer().stepCount(state.path("optimizer_step").asLong());
        trainer.optimizer().lr(state.path("lr").asDouble());
        rngs.forEach((k, rng) -> {
            JsonNode r = state.path("rng").path(k);
            rng.restore(new Rng.State(r.get("seed").asLong(), r.get("counter").asLong()));
        });
        return info;
    }

    /**
     * Deletes all but the {@value #KEEP} newest checkpoints up to {@code newest}. Directories of later steps (a killed
     * run's half-written checkpoint, left when a resumed run went back to {@code latest}) are not counted among the
     * kept ones, so they never push a complete checkpoint out; they are overwritten when the run reaches their step.
     */
    private static void prune(Path dir, String newest) throws IOException {
        List<Path> all = new ArrayList<>();
        try (Stream<Path> s = Files.list(dir)) {
            s.filter(p -> p.getFileName().toString().matches("step-\\d{6,}") && Files.isDirectory(p))
                    .filter(p -> p.getFileName().toString().compareTo(newest) <= 0).forEach(all::add);
        }
        all.sort(Comparator.comparing(p -> p.getFileName().toString()));
        for (int i = 0; i < all.size() - KEEP; i++) {
            Path old = all.get(i);
            if (old.getFileName().toString().equals(newest)) continue;
            deleteStep(old);
        }
    }

    private static void deleteStep(Path step) throws IOException {
        try (Stream<Path> files = Files.list(step)) {
            for (Path f : (Iterable<Path>) files::iterator) Files.deleteIfExists(f);
        }
        Files.deleteIfExists(step);
    }
}
