package dev.memwall.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.memwall.io.SafeTensors;
import dev.memwall.io.SafeTensorsHeader;
import dev.memwall.nn.FlatParameters;
import dev.memwall.nn.GptConfig;
import dev.memwall.rng.Rng;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The manifest of one checkpoint ({@code step-NNNNNN/state.json}): what the run was (step, learning rate, model
 * config, saved settings), how it was sharded (world size, ZeRO stage, Ψ and the flat layout: every parameter's name,
 * offset and shape), every rank's RNG states, and the files that hold the tensors — the replicated model once, and
 * each optimizer-state range [from, to) of the flat buffer with the file that holds it — each with its size and
 * SHA-256. Written last (after every rank's files are durable), read first; a loader trusts only the files it names.
 *
 * <p>Format 1 (single process, before sharded checkpoints) is still read: one optimizer file over [0, Ψ), no digests.
 */
record CheckpointManifest(Path file, long step, GptConfig config, String optimizer, long optimizerStep, double lr,
                          int worldSize, int zeroStage, int params, List<FlatParameters.Entry> layout, CheckpointFile model,
                          List<Shard> shards, List<Map<String, Rng.State>> rankRngs, JsonNode extra, CheckpointFile fp8) {
    static final int FORMAT = 2;
    static final String NAME = "state.json";
    private static final ObjectMapper JSON = new ObjectMapper();

    /** Optimizer state over the flat range [from, to), written by {@code rank}. */
    record Shard(int rank, int from, int to, CheckpointFile file) {
    }

    Path directory() {
        return file.getParent();
    }

    /** Every named file present with the recorded size and digest; the first that is not is named. */
    void verifyFiles() throws IOException {
        model.verify(directory(), file);
        for (Shard s : shards) s.file().verify(directory(), file);
        if (fp8 != null) fp8.verify(directory(), file);
    }

    byte[] toBytes() throws IOException {
        ObjectNode o = JSON.createObjectNode();
        o.put("format", FORMAT);
        o.put("step", step);
        o.put("optimizer", optimizer);
        o.put("optimizer_step", optimizerStep);
        o.put("lr", lr);
        ObjectNode cfg = o.putObject("config");
        cfg.put("vocab", config.vocab()).put("context", config.context()).put("dim", config.dim()).put("heads", config.heads())
                .put("layers", config.layers()).put("dropout", config.dropout());
        o.set("rng", rngJson(rankRngs.get(0)));
        o.put("world_size", worldSize);
        o.put("zero_stage", zeroStage);
        o.put("params", params);
        ArrayNode lay = o.putArray("layout");
        for (FlatParameters.Entry e : layout) {
            ObjectNode p = lay.addObject().put("name", e.name()).put("offset", e.offset());
            ArrayNode shape = p.putArray("shape");
            for (int d : e.shape()) shape.add(d);
        }
        model.toJson(o.putObject("model"));
        ArrayNode sh = o.putArray("shards");
        for (Shard s : shards) s.file().toJson(sh.addObject().put("rank", s.rank()).put("from", s.from()).put("to", s.to()));
        ArrayNode rr = o.putArray("rank_rng");
        for (Map<String, Rng.State> m : rankRngs) rr.add(rngJson(m));
        o.set("extra", extra == null ? JSON.createObjectNode() : extra);
        if (fp8 != null) fp8.toJson(o.putObject("fp8_state")); // absent: no FP8 recipe state (fp32, bf16, stateless recipes)
        return JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(o);
    }

    private static ObjectNode rngJson(Map<String, Rng.State> states) {
        ObjectNode r = JSON.createObjectNode();
        new TreeMap<>(states).forEach((k, s) -> r.putObject(k).put("seed", s.seed()).put("counter", s.counter()));
        return r; // sorted: the same state gives the same bytes whatever the map's order
    }

    /** Reads and checks the manifest of the step directory {@code dir}: structure, layout and ranges; no file is opened. */
    static CheckpointManifest read(Path dir) throws IOException {
        Path f = dir.resolve(NAME);
        if (!Files.isRegularFile(f)) throw new IOException(f + ": missing (the checkpoint has no manifest)");
        JsonNode o;
        try {
            o = JSON.readTree(f.toFile());
        } catch (IOException e) {
            throw new IOException(f + ": not valid JSON (" + e.getMessage() + ")", e);
        }
        if (o == null || !o.isObject()) throw new IOException(f + ": not a JSON object");
        int format = o.path("format").asInt(-1);
        if (format != 1 && format != FORMAT) throw new IOException(f + ": unsupported format " + o.path("format"));
        GptConfig config = config(o.path("config"), f);
        String optimizer = o.path("optimizer").asText();
        if (format == 1) return legacy(f, o, config, optimizer);
        for (String k : new String[]{"step", "optimizer_step", "world_size", "zero_stage", "params"}) {
            if (!o.path(k).canConvertToLong()) throw new IOException(f + ": " + k + " missing or not an integer");
        }
        int worldSize = o.get("world_size").asInt(), params = o.get("params").asInt();
        if (worldSize < 1 || params < 0) throw new IOException(f + ": world_size " + worldSize + " or params " + params + " out of range");
        List<FlatParameters.Entry> layout = new ArrayList<>();
        int next = 0;
        for (JsonNode p : o.path("layout")) {
            int[] shape = new int[p.path("shape").size()];
            for (int i = 0; i < shape.length; i++) shape[i] = p.path("shape").get(i).asInt();
            FlatParameters.Entry e = new FlatParameters.Entry(p.path("name").asText(), p.path("offset").asInt(-1), shape);
            if (e.offset() != next) throw new IOException(f + ": layout entry " + e.name() + " at offset " + e.offset() + ", expected " + next);
            next += e.numel();
            layout.add(e);
        }
        if (next != params) throw new IOException(f + ": layout covers " + next + " elements, params says " + params);
        CheckpointFile model = CheckpointFile.fromJson(o.path("model"), f, "model");
        List<Shard> shards = new ArrayList<>();
        int covered = 0;
        for (JsonNode s : o.path("shards")) {
            Shard shard = new Shard(s.path("rank").asInt(-1), s.path("from").asInt(-1), s.path("to").asInt(-1),
                    CheckpointFile.fromJson(s, f, "shard " + shards.size()));
            if (shard.from() != covered || shard.to() <= shard.from() || shard.to() > params || shard.rank() < 0 || shard.rank() >= worldSize) {
                throw new IOException(f + ": shard " + shards.size() + " (rank " + shard.rank() + ", [" + shard.from() + ", " + shard.to()
                        + ")) does not continue the ranges at " + covered + " within [0, " + params + ") and world size " + worldSize);
            }
            covered = shard.to();
            shards.add(shard);
        }
        if (covered != params) throw new IOException(f + ": the shards cover [0, " + covered + ") of [0, " + params + ")");
        List<Map<String, Rng.State>> rankRngs = new ArrayList<>();
        for (JsonNode r : o.path("rank_rng")) rankRngs.add(rngs(r, f));
        if (rankRngs.size() != worldSize) throw new IOException(f + ": rank_rng has " + rankRngs.size() + " ranks, world size is " + worldSize);
        return new CheckpointManifest(f, o.get("step").asLong(), config, optimizer, o.get("optimizer_step").asLong(),
                o.path("lr").asDouble(), worldSize, o.get("zero_stage").asInt(), params, layout, model, shards, rankRngs, o.path("extra"),
                o.has("fp8_state") ? CheckpointFile.fromJson(o.get("fp8_state"), f, "fp8_state") : null);
    }

    /** A format-1 (single-process) checkpoint as a manifest: one optimizer file over [0, Ψ), no digests, no layout. */
    private static CheckpointManifest legacy(Path f, JsonNode o, GptConfig config, String optimizer) throws IOException {
        Path dir = f.getParent(), opt = dir.resolve("optimizer.safetensors"), model = dir.resolve("model.safetensors");
        for (Path p : new Path[]{model, opt}) if (!Files.isRegularFile(p)) throw new IOException(p + ": missing (named by " + f + ")");
        SafeTensorsHeader h = SafeTensors.inspect(opt);
        int params = h.entries().isEmpty() ? 0 : h.entries().get(0).numel();
        List<Shard> shards = List.of(new Shard(0, 0, params, new CheckpointFile(opt.getFileName().toString(), Files.size(opt), null)));
        return new CheckpointManifest(f, o.path("step").asLong(), config, optimizer, o.path("optimizer_step").asLong(),
                o.path("lr").asDouble(), 1, 0, params, null, new CheckpointFile("model.safetensors", Files.size(model), null),
                shards, List.of(rngs(o.path("rng"), f)), o.path("extra"), null);
    }

    static GptConfig config(JsonNode c, Path f) throws IOException {
        for (String k : new String[]{"vocab", "context", "dim", "heads", "layers"}) {
            if (!c.path(k).canConvertToInt()) throw new IOException(f + ": config." + k + " missing or not an integer");
        }
        return new GptConfig(c.get("vocab").asInt(), c.get("context").asInt(), c.get("dim").asInt(),
                c.get("heads").asInt(), c.get("layers").asInt(), (float) c.path("dropout").asDouble(0));
    }

    private static Map<String, Rng.State> rngs(JsonNode r, Path f) throws IOException {
        Map<String, Rng.State> out = new TreeMap<>();
        var it = r.fields();
        while (it.hasNext()) {
            var e = it.next();
            if (!e.getValue().path("seed").canConvertToLong() || !e.getValue().path("counter").canConvertToLong()) {
                throw new IOException(f + ": rng." + e.getKey() + " needs an integer seed and counter");
            }
            out.put(e.getKey(), new Rng.State(e.getValue().get("seed").asLong(), e.getValue().get("counter").asLong()));
        }
        return out;
    }

    /** Whether this checkpoint's flat layout is {@code flat}'s (padding aside): same names, offsets and shapes. */
    String layoutMismatch(FlatParameters flat, int count) {
        if (params != count) return "it holds " + params + " parameters, the model " + count;
        if (layout == null) return null;
        if (layout.size() != flat.entries().size()) return "it lays out " + layout.size() + " tensors, the model " + flat.entries().size();
        for (int i = 0; i < layout.size(); i++) {
            FlatParameters.Entry a = layout.get(i), b = flat.entries().get(i);
            if (!a.name().equals(b.name()) || a.offset() != b.offset() || !Arrays.equals(a.shape(), b.shape())) {
                return "its tensor " + i + " is " + a.name() + Arrays.toString(a.shape()) + " at " + a.offset() + ", the model's "
                        + b.name() + Arrays.toString(b.shape()) + " at " + b.offset();
            }
        }
        return null;
    }
}
