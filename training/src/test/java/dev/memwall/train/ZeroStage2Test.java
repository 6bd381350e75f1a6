package dev.memwall.train;

import dev.memwall.autograd.Scope;
import dev.memwall.checkpoint.Checkpointing;
import dev.memwall.checkpoint.Policy;
import dev.memwall.data.Batch;
import dev.memwall.memory.Category;
import dev.memwall.memory.MemoryTracker;
import dev.memwall.nn.Gpt;
import dev.memwall.optim.AdamW;
import dev.memwall.optim.LrSchedule;
import dev.memwall.optim.Shard;
import dev.memwall.rng.Rng;
import dev.memwall.sharding.ProcessGroup;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.List;

import static dev.memwall.train.DataParallelTest.ADAM;
import static dev.memwall.train.DataParallelTest.CONFIG;
import static dev.memwall.train.DataParallelTest.batches;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * ZeRO stage 2 beyond "trains as one process" ({@link DataParallelTest} covers that for every stage): the bucket
 * reductions are issued from inside backward, each rank holds only its gradient shard, the buckets alive at once are
 * bounded, and the rank's pieces of the buckets cover every parameter exactly once.
 */
@Timeout(600)
class ZeroStage2Test {
    /** What one rank saw in its steps. */
    record Seen(int buckets, int parameters, int[] issuedInBackward, int[] issuedAfter, int[] leftAtFirstIssue,
                long[] peakLiveBucketElements, int bucketElements, int length, long[] peakCommunication, double[] hidden) {
    }

    static Seen trainSeeing(ProcessGroup g, Policy policy, int bucketElements, int steps, int accum) {
        Gpt model = new Gpt(CONFIG, new Rng(7));
        DataParallel dp = DataParallel.of(model, g, ZeroStage.STAGE_2, bucketElements);
        if (policy != null) Checkpointing.install(model, policy);
        Trainer t = new Trainer(model, dp, new AdamW(dp.params(), dp.shard(), ADAM), LrSchedule.constant(ADAM.lr()), 1.0);
        List<Batch> data = batches(21, steps * accum);
        GradientBuckets b = dp.buckets();
        int[] inside = new int[steps], after = new int[steps], left = new int[steps];
        long[] live = new long[steps], comm = new long[steps];
        double[] hidden = new double[steps];
        for (int s = 0; s < steps; s++) {
            StepStats st = t.step(data.subList(s * accum, (s + 1) * accum).toArray(new Batch[0]));
            inside[s] = b.issuedInBackward();
            after[s] = b.issuedAfterBackward();
            left[s] = b.parametersLeftAtFirstIssue();
            live[s] = b.peakLiveBucketElements();
            comm[s] = st.peakBytes().getOrDefault(Category.COMMUNICATION, 0L);
            hidden[s] = st.commHiddenFraction();
        }
        return new Seen(b.bucketCount(), b.parameterCount(), inside, after, left, live, b.bucketElements(),
                dp.params().length(), comm, hidden);
    }

    /**
     * Overlap, from the hook's side: every bucket's reduce-scatter is issued by the gradient-ready hook while backward
     * runs, the first while more than half of the parameters still wait for their gradient — so the communication
     * thread has the rest of backward to work in. With and without checkpointing (recomputation inside backward must
     * not delay or repeat a report).
     */
    @Test
    void bucketsAreReducedDuringBackwardUnderEveryPolicy() {
        for (Policy policy : new Policy[] {null, Policy.everyLayer(CONFIG.layers()), Policy.selective(CONFIG.layers())}) {
            for (Seen seen : Ranks.run(2, g -> trainSeeing(g, policy, 0, 3, 1))) {
                String what = policy == null ? "no checkpointing" : policy.describe();
                assertThat(seen.buckets).as(what).isGreaterThanOrEqualTo(4);
                for (int s = 0; s < 3; s++) {
                    assertThat(seen.issuedInBackward[s]).as("%s step %d: issued from inside backward", what, s).isEqualTo(seen.buckets);
                    assertThat(seen.issuedAfter[s]).as(what).isZero();
                    assertThat(seen.leftAtFirstIssue[s]).as("%s step %d: parameters still to come at the first issue", what, s)
                            .isGreaterThan(seen.parameters / 2);
                    assertThat(seen.hidden[s]).as(what).isBetween(0.0, 1.0);
                }
            }
        }
    }

    /**
     * With two accumulated micro-batches nothing is reduced in the first backward ({@code no_sync}); the second
     * issues every bucket. (That the result is the single process's is {@link DataParallelTest}'s accumulation test.)
     */
    @Test
    void accumulationReducesOnlyAfterTheLastMicroBatch() {
        for (Seen seen : Ranks.run(2, g -> trainSeeing(g, null, 0, 2, 2))) {
            for (int s = 0; s < 2; s++) {
                assertThat(seen.issuedInBackward[s]).as("step %d", s).isEqualTo(seen.buckets);
                // the buckets hold the first micro-batch's gradient until the last backward: all of them at once
                assertThat(seen.peakLiveBucketElements[s]).as("step %d", s).isEqualTo(seen.length);
            }
        }
    }

    /**
     * Bytes: between steps each rank holds exactly its gradient shard (4·L/N bytes of GRADIENT, L the padded flat
     * length) and no bucket. During a step the buckets alive per rank are those in flight ({@code MAX_IN_FLIGHT}) and
     * those being filled: a GPT reports parameters in reverse flat order except that a layer's weight comes before its
     * bias, so the buckets the bias straddles (two) wait for it while the one at the weight's start waits for the layer
     * before — three. With 64·N-element buckets that is far below the whole gradient, and the tracker's COMMUNICATION
     * peak — all ranks of this JVM, their transport scratch (two arrays of at most a bucket's piece) included — stays
     * within N times that.
     */
    @Test
    void eachRankKeepsItsGradientShardAndABoundedNumberOfBuckets() {
        MemoryTracker tracker = MemoryTracker.current();
        assertThat(DataParallelTest.KEY_BIAS).isNotEmpty(); // its static model is made now, not inside the window below
        for (int n : new int[] {2, 4}) {
            long gradBefore = tracker.current(Category.GRADIENT), commBefore = tracker.current(Category.COMMUNICATION);
            long[] after = new long[2];
            List<Seen> ranks = Ranks.run(n, g -> {
                Seen seen = trainSeeing(g, null, 64 * n, 3, 1);
                g.barrier(); // every rank done with its steps, none released anything yet
                after[0] = tracker.current(Category.GRADIENT) - gradBefore;
                after[1] = tracker.current(Category.COMMUNICATION) - commBefore;
                g.barrier();
                return seen;
            });
            Seen first = ranks.get(0);
            assertThat(after[0]).as("N=%d: GRADIENT of all ranks = N shards of 4L/N", n).isEqualTo(4L * first.length);
            assertThat(after[1]).as("N=%d: no bucket alive between steps", n).isZero();
            long bucketBytes = 4L * first.bucketElements;
            long perRank = (GradientBuckets.MAX_IN_FLIGHT + 3) * bucketBytes + 2 * bucketBytes / n;
            assertThat(perRank).as("the bound means something").isLessThan(4L * first.length / 2);
            for (Seen seen : ranks) {
                for (int s = 0; s < 3; s++) {
                    assertThat(4 * seen.peakLiveBucketElements[s]).as("N=%d step %d", n, s)
                            .isLessThanOrEqualTo((GradientBuckets.MAX_IN_FLIGHT + 3) * bucketBytes);
                    assertThat(seen.peakCommunication[s]).as("N=%d step %d tracker", n, s).isLessThanOrEqualTo(n * perRank);
                }
            }
        }
    }

    /** The ranks' pieces of the buckets cover [0, Ψ) exactly once, and no two share a gradient slot of their shard. */
    @Test
    void theRanksPiecesCoverEveryParameterOnce() {
        for (int n : new int[] {2, 3, 4}) {
            List<int[]> covers = Ranks.run(n, g -> {
                Gpt model = new Gpt(CONFIG, new Rng(7));
                DataParallel dp = DataParallel.of(model, g, ZeroStage.STAGE_2, 100);
                Shard shard = dp.shard();
                int[] cover = new int[dp.params().length()];
                boolean[] slot = new boolean[shard.grads().length];
                for (int k = 0; k < shard.starts().length; k++) {
                    for (int e = 0; e < shard.lengths()[k]; e++) {
                        cover[shard.starts()[k] + e]++;
                        assertThat(slot[shard.gradStarts()[k] + e]).as("gradient slot used twice").isFalse();
                        slot[shard.gradStarts()[k] + e] = true;
                    }
                }
                assertThat(shard.grads().length).isEqualTo(dp.params().length() / n);
                return cover;
            });
            int psi = (int) new Gpt(CONFIG, new Rng(7)).parameterCount();
            for (int i = 0; i < covers.get(0).length; i++) {
                int sum = 0;
                for (int[] c : covers) sum += c[i];
                assertThat(sum).as("N=%d element %d", n, i).isEqualTo(i < psi ? 1 : 0);
            }
        }
    }

    /** Stage 2 has no flat gradient buffer: parameters have no {@code .grad()}, and a stage-1-style optimizer is refused. */
    @Test
    void thereIsNoFlatGradientBuffer() {
        assertThatThrownBy(() -> Ranks.run(2, g -> {
            Gpt model = new Gpt(CONFIG, new Rng(7));
            DataParallel dp = DataParallel.of(model, g, ZeroStage.STAGE_2);
            model.namedParameters().forEach((k, p) -> assertThat(p.grad()).as(k).isNull());
            return new Trainer(model, dp, new AdamW(dp.params(), dp.from(), dp.to(), ADAM), LrSchedule.constant(1e-3), 0);
        })).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("the optimizer owns");
    }

    /**
     * A backward outside any step — the budget planner profiles the very model it plans for — leaves nothing in the
     * buckets: the run that had one ends bitwise where the run without it does.
     */
    @Test
    void aBackwardOutsideAStepLeavesNoTrace() {
        List<Batch> data = batches(23, 3);
        float[] reference = null;
        for (boolean extra : new boolean[] {false, true}) {
            List<float[]> params = Ranks.run(2, g -> {
                Gpt model = new Gpt(CONFIG, new Rng(7));
                DataParallel dp = DataParallel.of(model, g, ZeroStage.STAGE_2);
                Trainer t = new Trainer(model, dp, new AdamW(dp.params(), dp.shard(), ADAM), LrSchedule.constant(ADAM.lr()), 1.0);
                if (extra) {
                    Batch b = dp.localRows(batches(24, 1).get(0));
                    try (Scope s = Scope.open()) {
                        model.loss(b.idsTensor(), b.targetsTensor()).backward();
                    }
                }
                for (Batch b : data) t.step(b);
                return dp.params().values().whole().toFloatArray();
            });
            if (!extra) reference = params.get(0);
            else assertThat(params.get(0)).isEqualTo(reference);
        }
    }

    /** Within a step (here one micro-batch of several) a second report of a parameter is an error. */
    @Test
    void aParameterReportedTwiceInOneBackwardIsAnError() {
        List<String> errors = Ranks.run(1, g -> {
            Gpt model = new Gpt(CONFIG, new Rng(7));
            DataParallel dp = DataParallel.of(model, g, ZeroStage.STAGE_2);
            Batch b = batches(3, 1).get(0);
            dp.beginBackward(false);
            try (Scope s = Scope.open()) {
                model.loss(b.idsTensor(), b.targetsTensor()).backward();
            }
            try (Scope s = Scope.open()) {
                model.loss(b.idsTensor(), b.targetsTensor()).backward(); // no beginBackward in between
                return "no error";
            } catch (IllegalStateException e) {
                return e.getMessage();
            }
        });
        assertThat(errors.get(0)).contains("gradient reported twice in one backward");
    }
}
