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
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static dev.memwall.train.DataParallelTest.ADAM;
import static dev.memwall.train.DataParallelTest.CONFIG;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * Sharded checkpoints on N ranks (threads of this JVM, real shared-memory groups): saving and resuming at the same
 * world size continues bit-identically; resharding 4 → 2 → 1 → 4 keeps every byte of the flat state; a run resumed
 * at another world size trains as one process does, within the sharded-equality tolerance.
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
            trainer = new Trainer(model, dp, new AdamW(dp.params(), dp.from(), dp.to(), ADAM),
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
            var p = trainer.params();
            var s = trainer.optimizer().stateTensors();
            return new Snapshot(Arrays.copyOf(p.values().whole().toFloatArray(), p.count()), trainer.optimizer().from(),
                    trainer.optimizer().to(), s.get("exp_avg").toFloatArray(), s.get("exp_avg_sq").toFloatArray(),
                    trainer.completedSteps(), trainer.optimizer().stepCount(), trainer.optimizer().lr(), data.state(), dropout.state());
        }
    }

    /** What one rank holds: all parameters, its moments over [from, to), counters and RNG states. */
    record Snapshot(float[] params, int from, int to, float[] m, float[] v, long step, long optimizerStep, double lr,
                    Rng.State data, Rng.State dropout) {
    }

    /** The state of the whole job, as one process would hold it: parameters and moments over [0, Ψ). */
    record Flat(float[] params, float[] m, float[] v, long step, long optimizerStep, double lr, Rng.State data) {
        static Flat of(List<Snapshot> ranks) {
            Snapshot r0 = ranks.get(0);
            int psi = r0.params().length, covered = 0;
            float[] m = new float[psi], v = new float[psi];
            for (Snapshot s : ranks) {
                assertThat(s.params()).as("every rank holds the same parameters").isEqualTo(r0.params());
                if (s.from() != covered || s.to() == s.from()) continue; // stage 0: every rank holds all of it
                System.arraycopy(s.m(), 0, m, s.from(), s.to() - s.from());
                System.arraycopy(s.v(), 0, v, s.from(), s.to() - s.from());
                covered = s.to();
            }
            assertThat(covered).isEqualTo(psi);
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
        run(4, ZeroStage.STAGE_1, j -> j.steps(K).save(dir));
        Flat resumed = Flat.of(run(2, ZeroStage.STAGE_1, j -> j.resume(dir).steps(K)));
        assertThat(resumed.step()).isEqualTo(2 * K);
        for (int i = 0; i < single.params().length; i++) {
            if (DataParallelTest.KEY_BIAS[i]) continue; // gradient-free drift, see DataParallelTest.KEY_BIAS
            float e = single.params()[i];
            assertThat((double) Math.abs(resumed.params()[i] - e)).as("parameter %d", i).isLessThanOrEqualTo(1e-5 * Math.max(1, Math.abs(e)));
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
