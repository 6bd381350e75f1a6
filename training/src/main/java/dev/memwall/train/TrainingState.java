package dev.memwall.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.memwall.io.AtomicFiles;
import dev.memwall.io.SafeTensors;
import dev.memwall.nn.GptConfig;
import dev.memwall.rng.Rng;
import dev.memwall.sharding.ProcessGroup;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.function.IntConsumer;
import java.util.stream.Stream;

/**
 * Saves and resumes everything a run needs to continue bit-identically — model weights, optimizer state, the step,
 * the learning rate, the model config and every rank's RNG states — for one process or every rank of a data-parallel
 * job, and resumes on any world size and ZeRO stage.
 *
 * <p>Layout: {@code DIR/step-000123/} holds {@code model.safetensors} (PyTorch names, written once by rank 0: the
 * parameters are replicated at stages 0–2, gathered unit by unit at stage 3), the optimizer state by flat range ({@code optimizer.safetensors} when one
 * range is all of [0, Ψ), else {@code optimizer-rankRRRRR-of-NNNNN.safetensors}, one per rank), and the manifest
 * {@code state.json} ({@link CheckpointManifest}); under an FP8 delayed-scaling recipe also rank 0's amax histories,
 * {@code fp8.safetensors} ({@link Fp8Checkpoint}); {@code DIR/latest} names the newest complete checkpoint.
 *
 * <p>Commit protocol ({@link #save}): rank 0 empties the step directory if a killed run left one; barrier; every rank
 * writes its files (temporary name, fsync, rename); barrier; rank 0 records every file's size and SHA-256 in the
 * manifest, writes it, then replaces {@code latest} — the commit point — and prunes old checkpoints; barrier. A crash
 * anywhere before {@code latest} is replaced leaves it naming the previous complete checkpoint; a loader trusts only
 * the files the manifest names, and only with the recorded size and digest. The two newest checkpoints are kept.
 */
public final class TrainingState {
    private static final int KEEP = 2;
    /** Test seam: runs on rank 0 after every rank's files are durable and before the manifest is written. */
    static volatile IntConsumer beforeCommit = step -> { };

    private TrainingState() {
    }

    /** What a checkpoint says about the run, read before anything is loaded. */
    public record Info(Path directory, long step, GptConfig config, JsonNode extra, int worldSize, int zeroStage) {
    }

    /**
     * Writes a checkpoint of {@code trainer} with the given named RNGs and free-form {@code extra} settings. Under data
     * parallelism every rank calls it (it is collective) with the same names; it returns once the checkpoint is
     * committed.
     */
    public static Path save(Path dir, Trainer trainer, Map<String, Rng> rngs, ObjectNode extra) throws IOException {
        DataParallel dp = trainer.dataParallel();
        ProcessGroup group = dp.group();
        int rank = group.rank(), n = group.worldSize(), params = dp.paramCount();
        String name = String.format("step-%06d", trainer.completedSteps());
        Path target = dir.resolve(name);
        List<Map<String, Rng.State>> rankRngs = RankRngs.gather(group, rngs);
        dp.restoreMasters(); // stages 1-2 in BF16/FP16: other ranks' GEMM weights exact again before the model is written
        if (rank == 0) prepare(dir, name);
        group.barrier();
        List<int[]> ranges = OptimizerShards.ranges(dp.stage(), params, n);
        boolean whole = ranges.size() == 1 && ranges.get(0)[1] == 0 && ranges.get(0)[2] == params;
        if (dp.buckets() != null || dp.units() != null) writeRegrouped(target, trainer, ranges, whole); // stages 2, 3: collective
        else {
            for (int[] r : ranges) {
                if (r[0] != rank) continue;
                if (r[1] != trainer.optimizer().from() || r[2] != trainer.optimizer().to()) {
                    throw new IllegalStateException("rank " + rank + "'s optimizer owns [" + trainer.optimizer().from() + ", "
                            + trainer.optimizer().to() + "), not the range [" + r[1] + ", " + r[2] + ") of " + dp.stage());
                }
                OptimizerShards.write(target.resolve(OptimizerShards.fileName(rank, n, whole)), trainer.optimizer());
            }
        }
        if (dp.units() != null) UnitParameters.write(target.resolve("model.safetensors"), dp); // stage 3: collective
        else if (rank == 0) SafeTensors.write(target.resolve("model.safetensors"), trainer.model().namedParameters(), Map.of("format", "pt"));
        boolean fp8 = rank == 0 && Fp8Checkpoint.write(target, trainer); // rank 0's amax histories: see Fp8Checkpoint
        group.barrier(); // every rank's files are durable under their final names
        if (rank == 0) {
            beforeCommit.accept(n);
            List<CheckpointManifest.Shard> shards = new ArrayList<>();
            for (int[] r : ranges) {
                shards.add(new CheckpointManifest.Shard(r[0], r[1], r[2], CheckpointFile.of(target, OptimizerShards.fileName(r[0], n, whole))));
            }
            CheckpointManifest m = new CheckpointManifest(target.resolve(CheckpointManifest.NAME), trainer.completedSteps(),
                    trainer.model().config(), trainer.optimizer().getClass().getSimpleName(), trainer.optimizer().stepCount(),
                    trainer.optimizer().lr(), n, dp.stage().number(), params, dp.params().entries(),
                    CheckpointFile.of(target, "model.safetensors"), shards, rankRngs, extra,
                    fp8 ? CheckpointFile.of(target, Fp8Checkpoint.NAME) : null);
            AtomicFiles.write(m.file(), m.toBytes());
            AtomicFiles.write(dir.resolve("latest"), (name + "\n").getBytes(StandardCharsets.UTF_8)); // the commit point
            prune(dir, name);
        }
        group.barrier(); // no rank goes on (or starts the next save) before the checkpoint is committed
        return target;
    }

    /**
     * ZeRO stages 2 and 3: the optimizer owns piece r of every gradient bucket or parameter unit; the checkpoint holds
     * the same contiguous ranges as stage 1, so every rank (an empty range too: the regrouping is collective) regroups
     * its state into its range ({@link StateRegroup}) and writes it, then frees the copy.
     */
    private static void writeRegrouped(Path target, Trainer trainer, List<int[]> ranges, boolean whole) throws IOException {
        DataParallel dp = trainer.dataParallel();
        int rank = dp.group().rank(), n = dp.group().worldSize(), from = 0, to = 0;
        for (int[] r : ranges) {
            if (r[0] == rank) {
                from = r[1];
                to = r[2];
            }
        }
        Map<String, dev.memwall.autograd.Tensor> state = dp.units() != null
                ? StateRegroup.fromUnits(dp, trainer.optimizer(), from, to)
                : StateRegroup.fromBuckets(dp, trainer.optimizer(), from, to);
        try {
            if (to > from) {
                OptimizerShards.write(target.resolve(OptimizerShards.fileName(rank, n, whole)),
                        trainer.optimizer().getClass().getSimpleName(), state, from, to);
            }
        } finally {
            state.values().forEach(dev.memwall.autograd.Tensor::release);
        }
    }

    /**
     * Rank 0, before any rank writes: the step directory exists and holds nothing (a killed run may have left part of
     * one). The committed checkpoint is never rewritten in place: saving the step {@code latest} names is refused.
     */
    private static void prepare(Path dir, String name) throws IOException {
        Files.createDirectories(dir);
        Path latest = dir.resolve("latest");
        if (Files.isRegularFile(latest) && Files.readString(latest, StandardCharsets.UTF_8).trim().equals(name)) {
            throw new IOException(dir.resolve(name) + " is the committed checkpoint (" + latest + "); a new save of the same step "
                    + "would have to delete it first. Save to another directory, or after another step");
        }
        Path target = dir.resolve(name);
        if (Files.isDirectory(target)) deleteStep(target);
        Files.createDirectories(target);
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
        for (Path step : steps(dir)) deleteStep(step);
    }

    /** Reads what the newest checkpoint in {@code dir} describes, without loading tensors. */
    public static Info inspect(Path dir) throws IOException {
        return inspectStep(committed(dir));
    }

    /** Reads what one checkpoint ({@code DIR/step-NNNNNN}) describes, without loading tensors. */
    public static Info inspectStep(Path target) throws IOException {
        return info(CheckpointManifest.read(target));
    }

    private static Info info(CheckpointManifest m) {
        return new Info(m.directory(), m.step(), m.config(), m.extra(), m.worldSize(), m.zeroStage());
    }

    /** The step directory {@code DIR/latest} names. */
    static Path committed(Path dir) throws IOException {
        Path latest = dir.resolve("latest");
        if (!Files.isRegularFile(latest)) {
            throw new IOException(dir + ": not a directory of saved training state (no 'latest' file; train --save writes one)");
        }
        String name = Files.readString(latest, StandardCharsets.UTF_8).trim();
        if (!name.matches("step-\\d{6,}")) throw new IOException(latest + ": does not name a checkpoint: '" + name + "'");
        return dir.resolve(name);
    }

    /**
     * Loads the newest checkpoint into {@code trainer} (whose model must have the checkpoint's config and layout) and
     * restores the named RNGs. The world size and ZeRO stage may differ from the saved run's: each rank reads its own
     * optimizer range from the saved ranges that overlap it. Everything — the manifest, every file's size and digest,
     * names, shapes and ranges — is validated before anything is changed. Not collective: ranks read independently.
     */
    public static Info resume(Path dir, Trainer trainer, Map<String, Rng> rngs) throws IOException {
        CheckpointManifest m = CheckpointManifest.read(committed(dir));
        if (!m.config().equals(trainer.model().config())) {
            throw new IOException(dir + ": checkpoint is for model " + m.config() + ", not " + trainer.model().config());
        }
        String optimizer = trainer.optimizer().getClass().getSimpleName();
        if (!m.optimizer().equals(optimizer)) {
            throw new IOException(dir + ": checkpoint holds " + m.optimizer() + " state, this run uses " + optimizer);
        }
        String layout = m.layoutMismatch(trainer.params(), trainer.dataParallel().paramCount());
        if (layout != null) throw new IOException(m.file() + ": the flat layout differs from the model's: " + layout);
        for (String k : rngs.keySet()) {
            if (!m.rankRngs().get(0).containsKey(k)) throw new IOException(m.file() + ": rng." + k + " missing");
        }
        m.verifyFiles();
        Path model = m.directory().resolve(m.model().name());
        DataParallel dp = trainer.dataParallel();
        int[] flatStarts = dp.flatStarts();
        if (dp.units() != null) UnitParameters.check(model, dp); // stage 3: this rank's pieces of the full tensors
        else SafeTensors.checkInto(model, trainer.model().namedParameters(), "the model");
        OptimizerShards.check(m, trainer.optimizer(), flatStarts);
        Path fp8File = m.fp8() == null ? null : m.directory().resolve(m.fp8().name());
        if (fp8File != null) Fp8Checkpoint.restore(Fp8Checkpoint.read(fp8File), trainer, fp8File); // refused before the model changes
        if (dp.units() != null) UnitParameters.read(model, dp);
        else SafeTensors.readInto(model, trainer.model().namedParameters(), "the model");
        OptimizerShards.read(m, trainer.optimizer(), flatStarts);
        trainer.setCompletedSteps(m.step());
        trainer.optimizer().stepCount(m.optimizerStep());
        trainer.optimizer().lr(m.lr());
        int rank = dp.group().rank();
        rngs.forEach((k, rng) -> rng.restore(RankRngs.restoreFor(m.rankRngs(), k, rank)));
        return info(m);
    }

    /**
     * Writes the model of a checkpoint — {@code source} is a run directory (its newest checkpoint) or one step
     * directory — as one safetensors file with PyTorch names, after validating the manifest and every file it names.
     * {@code out} is written atomically: on any error it is left as it was.
     */
    public static Info consolidate(Path source, Path out) throws IOException {
        Path step = holdsRun(source) ? committed(source) : source;
        if (!Files.isDirectory(step)) throw new IOException(source + ": not a train --save run or step directory");
        CheckpointManifest m = CheckpointManifest.read(step);
        m.verifyFiles();
        Path model = m.directory().resolve(m.model().name());
        var header = SafeTensors.inspect(model);
        if (m.layout() != null) {
            for (var e : m.layout()) {
                var t = header.entry(e.name());
                if (t == null || !Arrays.equals(t.shape(), e.shape())) {
                    throw new IOException(model + ": " + e.name() + " is " + t + ", the manifest's layout has " + Arrays.toString(e.shape()));
                }
            }
            if (header.entries().size() != m.layout().size()) {
                throw new IOException(model + ": holds " + header.entries().size() + " tensors, the manifest lays out " + m.layout().size());
            }
        }
        try (var file = SafeTensors.read(model)) {
            SafeTensors.write(out, file.tensors(), Map.of("format", "pt"));
        }
        return info(m);
    }

    /**
     * Deletes all but the {@value #KEEP} newest checkpoints up to {@code newest}. Directories of later steps (a killed
     * run's half-written checkpoint, left when a resumed run went back to {@code latest}) are not counted among the
     * kept ones, so they never push a complete checkpoint out; they are emptied when the run reaches their step.
     */
    private static void prune(Path dir, String newest) throws IOException {
        List<Path> all = new ArrayList<>(steps(dir).stream().filter(p -> p.getFileName().toString().compareTo(newest) <= 0).toList());
        all.sort(Comparator.comparing(p -> p.getFileName().toString()));
        for (int i = 0; i < all.size() - KEEP; i++) {
            Path old = all.get(i);
            if (old.getFileName().toString().equals(newest)) continue;
            deleteStep(old);
        }
    }

    private static List<Path> steps(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(p -> p.getFileName().toString().matches("step-\\d{6,}") && Files.isDirectory(p)).toList();
        }
    }

    private static void deleteStep(Path step) throws IOException {
        try (Stream<Path> files = Files.list(step)) {
            for (Path f : (Iterable<Path>) files::iterator) Files.deleteIfExists(f);
        }
        Files.deleteIfExists(step);
    }
}
