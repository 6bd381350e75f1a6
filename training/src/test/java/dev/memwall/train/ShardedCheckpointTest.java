package dev.memwall.train;

import dev.memwall.data.Batch;
import dev.memwall.nn.Gpt;
import dev.memwall.optim.AdamW;
import dev.memwall.optim.LrSchedule;
import dev.memwall.rng.Rng;
import dev.memwall.sharding.ProcessGroup;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static dev.memwall.train.DataParallelTest.ADAM;
import static dev.memwall.train.DataParallelTest.CONFIG;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * Sharded checkpoints on N ranks (threads of this JVM, real shared-memory groups): saving and resuming at the same
 * world size and stage continues bit-identically (every stage); resharding 4 → 2 → 1 → 4, and between stages,
 * keeps every byte of the flat state; a run resumed at another world size trains as one process does, within the
 * sharded-equality tolerance.
 */
@Timeout(600)
class ShardedCheckpointTest {
    static final int K = 4;
    static final List<Batch> DATA = DataParallelTest.batches(21, 3 * K);

    /** One rank's trainer and RNGs: "data" the same on every rank, "dropout" a stream of its own per rank. */
    static final class Job {
        final Trainer trainer;
        final Rng data = new Rng(5), dropout;
        final int rank;

        Job(ProcessGroup g, ZeroStage stage) {
            Gpt model = new Gpt(CONFIG, new Rng(7));
            DataParallel dp = DataParallel.of(model, g, stage);
            trainer = new Trainer(model, dp, new AdamW(dp.params(), dp.shard(), ADAM),
                    LrSchedule.warmupCosine(ADAM.lr(), 3, 3 * K, ADAM.lr() / 10), 1.0);
            rank = g.rank();
            dropout = new Rng(Rng.mix(9, rank));
        }

        Map<String, Rng> rngs() {
            return Map.of("data", data, "dropout", dropout);
        }

        Job steps(int n) {
            for (int i = 0; i < n; i++) {
                trainer.step(DATA.get((int) trainer.completedSteps()));
                data.nextLong();
                dropout.advance(1 + rank);
            }
            return this;
        }

        Job save(Path dir) {
            try {
                TrainingState.save(dir, trainer, rngs(), null);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            return this;
        }

        Job resume(Path dir) {
            try {
                TrainingState.resume(dir, trainer, rngs());
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            return this;
        }

        Snapshot snapshot() {
            var s = trainer.optimizer().stateTensors();
            var owned = trainer.optimizer().shard();
            // stage 3: every rank gathers the full parameters (a collective) and places its segments in the flat layout
            return new Snapshot(trainer.dataParallel().parameterValues(), trainer.dataParallel().flatStarts(),
                    owned.lengths().clone(), s.get("exp_avg").toFloatArray(), s.get("exp_avg_sq").toFloatArray(),
                    trainer.completedSteps(), trainer.optimizer().stepCount(), trainer.optimizer().lr(), data.state(), dropout.state());
        }
    }

    /**
     * What one rank holds: all parameters, its moments over its segments (one range [from, to) at stages 0 and 1, a
     * piece of every gradient bucket at stage 2, one after another), counters and RNG states.
     */
    record Snapshot(float[] params, int[] starts, int[] lengths, float[] m, float[] v, long step, long optimizerStep, double lr,
                    Rng.State data, Rng.State dropout) {
    }

    /** The state of the whole job, as one process would hold it: parameters and moments over [0, Ψ). */
    record Flat(float[] params, float[] m, float[] v, long step, long optimizerStep, double lr, Rng.State data) {
        static Flat of(List<Snapshot> ranks) {
            Snapshot r0 = ranks.get(0);
            int psi = r0.params().length;
            float[] m = new float[psi], v = new float[psi];
            int[] holders = new int[psi];
            for (Snapshot s : ranks) {
                assertThat(s.params()).as("every rank holds the same parameters").isEqualTo(r0.params());
                for (int k = 0, at = 0; k < s.starts().length; at += s.lengths()[k], k++) {
                    for (int i = 0; i < s.lengths()[k]; i++) {
                        int e = s.starts()[k] + i;
                        if (holders[e]++ > 0) { // stage 0: every rank holds all of it, the same bits
                            assertThat(List.of(s.m()[at + i], s.v()[at + i])).as("element %d", e).isEqualTo(List.of(m[e], v[e]));
                        }
                        m[e] = s.m()[at + i];
                        v[e] = s.v()[at + i];
                    }
                }
            }
            for (int e = 0; e < psi; e++) assertThat(holders[e]).as("element %d held", e).isPositive();
            return new Flat(r0.params(), m, v, r0.step(), r0.optimizerStep(), r0.lr(), r0.data());
        }

        void assertBitIdentical(Flat o, String what) {
            assertThat(o.params).as("%s: parameters", what).isEqualTo(params);
            assertThat(o.m).as("%s: exp_avg", what).isEqualTo(m);
            assertThat(o.v).as("%s: exp_avg_sq", what).isEqualTo(v);
            assertThat(List.of(o.step, o.optimizerStep, o.lr, o.data)).as("%s: step, optimizer step, lr, data RNG", what)
                    .isEqualTo(List.of(step, optimizerStep, lr, data));
        }
    }

    static List<Snapshot> run(int n, ZeroStage stage, java.util.function.Function<Job, Job> work) {
        return Ranks.run(n, g -> work.apply(new Job(g, stage)).snapshot());
    }

    /** (a) Save at step K on two ranks, resume on two fresh ranks, train K more: every byte as in a run that never stopped. */
    @Test
    void resumingAtTheSameWorldSizeContinuesBitIdentically(@TempDir Path dir) {
        for (ZeroStage stage : ZeroStage.values()) {
            Path d = dir.resolve(stage.name());
            List<Snapshot> straight = run(2, stage, j -> j.steps(2 * K));
            run(2, stage, j -> j.steps(K).save(d));
            List<Snapshot> resumed = run(2, stage, j -> j.resume(d).steps(K));
            for (int r = 0; r < 2; r++) {
                assertThat(resumed.get(r)).as("%s rank %d", stage, r).usingRecursiveComparison().isEqualTo(straight.get(r));
            }
        }
    }

    /**
     * (b) Resharding 4 → 2 → 1 → 4 (and across stages) keeps every byte of the flat state — parameters, both moments,
     * step, learning rate, data RNG — and each rank's own dropout stream where the rank existed; a rank resumed at
     * world size 4 after world size 1 gets a stream of its own.
     */
    @Test
    void reshardingFourToTwoToOneAndBackKeepsEveryByte(@TempDir Path dir) {
        List<Snapshot> four = run(4, ZeroStage.STAGE_1, j -> j.steps(K).save(dir.resolve("n4")));
        Flat saved = Flat.of(four);
        List<Snapshot> two = run(2, ZeroStage.STAGE_1, j -> j.resume(dir.resolve("n4")).save(dir.resolve("n2")));
        saved.assertBitIdentical(Flat.of(two), "4 → 2");
        for (int r = 0; r < 2; r++) assertThat(two.get(r).dropout()).as("rank %d's own stream", r).isEqualTo(four.get(r).dropout());
        List<Snapshot> one = run(1, ZeroStage.STAGE_0, j -> j.resume(dir.resolve("n2")).save(dir.resolve("n1")));
        saved.assertBitIdentical(Flat.of(one), "2 → 1");
        List<Snapshot> back = run(4, ZeroStage.STAGE_1, j -> j.resume(dir.resolve("n1")));
        saved.assertBitIdentical(Flat.of(back), "1 → 4");
        List<Snapshot> stage0 = run(2, ZeroStage.STAGE_0, j -> j.resume(dir.resolve("n4")));
        saved.assertBitIdentical(Flat.of(stage0), "4 at stage 1 → 2 at stage 0");
    }

    /**
     * Stage 2 saves the stage-1 layout (its bucket pieces regrouped into each rank's range), so its checkpoints
     * reshard across world sizes and stages both ways: 2 ranks at stage 2 → 4 at stage 1, 1 at stage 2, 3 at stage 2
     * (a world size whose buckets and ranges cut the buffer elsewhere), 2 at stage 0, and a stage-1 checkpoint into
     * stage 2 — every byte of the flat state kept, each rank's own dropout stream where the rank existed.
     */
    @Test
    void stageTwoCheckpointsReshardAcrossWorldSizesAndStages(@TempDir Path dir) throws IOException {
        List<Snapshot> two = run(2, ZeroStage.STAGE_2, j -> j.steps(K).save(dir.resolve("a")));
        Flat saved = Flat.of(two);
        assertThat(List.of(TrainingState.inspect(dir.resolve("a")).zeroStage(), TrainingState.inspect(dir.resolve("a")).worldSize()))
                .isEqualTo(List.of(2, 2));
        assertThat(files(dir.resolve("a/step-00000" + K))).as("the stage-1 files: one range per rank")
                .containsExactly("model.safetensors", "optimizer-rank00000-of-00002.safetensors",
                        "optimizer-rank00001-of-00002.safetensors", "state.json");
        List<Snapshot> four = run(4, ZeroStage.STAGE_1, j -> j.resume(dir.resolve("a")).save(dir.resolve("b")));
        saved.assertBitIdentical(Flat.of(four), "2 at stage 2 → 4 at stage 1");
        for (int r = 0; r < 2; r++) assertThat(four.get(r).dropout()).as("rank %d's own stream", r).isEqualTo(two.get(r).dropout());
        saved.assertBitIdentical(Flat.of(run(1, ZeroStage.STAGE_2, j -> j.resume(dir.resolve("a")).save(dir.resolve("c")))),
                "2 at stage 2 → 1 at stage 2");
        saved.assertBitIdentical(Flat.of(run(3, ZeroStage.STAGE_2, j -> j.resume(dir.resolve("c")).save(dir.resolve("d")))),
                "1 at stage 2 → 3 at stage 2");
        saved.assertBitIdentical(Flat.of(run(2, ZeroStage.STAGE_0, j -> j.resume(dir.resolve("d")))), "3 at stage 2 → 2 at stage 0");
        saved.assertBitIdentical(Flat.of(run(4, ZeroStage.STAGE_2, j -> j.resume(dir.resolve("b")))), "4 at stage 1 → 4 at stage 2");
    }

    /**
     * The same continuation at stage 2: a two-rank stage-2 run saved at step K, passed through 4 ranks at stage 1 and
     * one process at stage 2, then resumed on two ranks at stage 2, ends K steps later exactly as the run that never
     * stopped.
     */
    @Test
    void aStageTwoRunPassedThroughOtherWorldSizesAndStagesContinuesBitIdentically(@TempDir Path dir) {
        List<Snapshot> straight = run(2, ZeroStage.STAGE_2, j -> j.steps(2 * K));
        run(2, ZeroStage.STAGE_2, j -> j.steps(K).save(dir.resolve("a")));
        run(4, ZeroStage.STAGE_1, j -> j.resume(dir.resolve("a")).save(dir.resolve("b")));
        run(1, ZeroStage.STAGE_2, j -> j.resume(dir.resolve("b")).save(dir.resolve("c")));
        List<Snapshot> resumed = run(2, ZeroStage.STAGE_2, j -> j.resume(dir.resolve("c")).steps(K));
        Flat.of(straight).assertBitIdentical(Flat.of(resumed), "2 → 4 (stage 1) → 1 (stage 2) → 2, then K steps");
    }

    /**
     * Bit-identical continuation through resharding: a two-rank run saved at step K, passed through 4 and 1 ranks
     * (resume, save), then resumed on two ranks, ends K steps later exactly as the two-rank run that never stopped.
     */
    @Test
    void aRunPassedThroughOtherWorldSizesContinuesBitIdentically(@TempDir Path dir) {
        List<Snapshot> straight = run(2, ZeroStage.STAGE_1, j -> j.steps(2 * K));
        run(2, ZeroStage.STAGE_1, j -> j.steps(K).save(dir.resolve("a")));
        run(4, ZeroStage.STAGE_1, j -> j.resume(dir.resolve("a")).save(dir.resolve("b")));
        run(1, ZeroStage.STAGE_0, j -> j.resume(dir.resolve("b")).save(dir.resolve("c")));
        List<Snapshot> resumed = run(2, ZeroStage.STAGE_1, j -> j.resume(dir.resolve("c")).steps(K));
        Flat.of(straight).assertBitIdentical(Flat.of(resumed), "2 → 4 → 1 → 2, then K steps");
    }

    /**
     * (c) Trained K steps on four ranks, resumed on two for K more: the losses and parameters of a single process
     * trained 2K steps, within the 1e-5 that any two world sizes agree to (their GEMM row splits round differently).
     */
    @Test
    void aRunResumedOnAnotherWorldSizeTrainsAsOneProcess(@TempDir Path dir) {
        Flat single = Flat.of(run(1, ZeroStage.STAGE_0, j -> j.steps(2 * K)));
        // saved at stage 1 and resumed at stage 1; saved at stage 2 or 3 and resumed at stage 1 (stages too differ in
        // rounding); saved at stage 1 and resumed at stage 3
        ZeroStage[][] pairs = {{ZeroStage.STAGE_1, ZeroStage.STAGE_1}, {ZeroStage.STAGE_2, ZeroStage.STAGE_1},
                {ZeroStage.STAGE_3, ZeroStage.STAGE_1}, {ZeroStage.STAGE_1, ZeroStage.STAGE_3}};
        for (ZeroStage[] pair : pairs) {
            ZeroStage saving = pair[0];
            Path d = dir.resolve(saving.name() + "-" + pair[1].name());
            run(4, saving, j -> j.steps(K).save(d));
            Flat resumed = Flat.of(run(2, pair[1], j -> j.resume(d).steps(K)));
            assertThat(resumed.step()).isEqualTo(2 * K);
            for (int i = 0; i < single.params().length; i++) {
                if (DataParallelTest.KEY_BIAS[i]) continue; // gradient-free drift, see DataParallelTest.KEY_BIAS
                float e = single.params()[i];
                assertThat((double) Math.abs(resumed.params()[i] - e)).as("saved at %s, resumed at %s: parameter %d", saving, pair[1], i)
                        .isLessThanOrEqualTo(1e-5 * Math.max(1, Math.abs(e)));
            }
        }
    }

    /** Which files a step directory holds (temporary files included, so a leftover shows). */
    static List<String> files(Path step) throws IOException {
        try (var s = Files.list(step)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    @Test
    void eachRankWritesItsRangeAndRankZeroTheModelAndManifest(@TempDir Path dir) throws IOException {
        run(4, ZeroStage.STAGE_1, j -> j.steps(1).save(dir));
        assertThat(files(dir.resolve("step-000001"))).containsExactly("model.safetensors", "optimizer-rank00000-of-00004.safetensors",
                "optimizer-rank00001-of-00004.safetensors", "optimizer-rank00002-of-00004.safetensors",
                "optimizer-rank00003-of-00004.safetensors", "state.json");
        var info = TrainingState.inspect(dir);
        assertThat(List.of(info.worldSize(), info.zeroStage(), info.step())).isEqualTo(List.of(4, 1, 1L));
        run(2, ZeroStage.STAGE_0, j -> j.steps(1).save(dir.resolve("s0")));
        assertThat(files(dir.resolve("s0/step-000001"))).as("stage 0: every rank holds the same state; rank 0 writes it")
                .containsExactly("model.safetensors", "optimizer.safetensors", "state.json");
    }
}
