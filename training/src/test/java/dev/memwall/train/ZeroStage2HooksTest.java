package dev.memwall.train;

import dev.memwall.autograd.Scope;
import dev.memwall.autograd.Tensor;
import dev.memwall.checkpoint.Checkpointing;
import dev.memwall.checkpoint.Planner;
import dev.memwall.checkpoint.Policy;
import dev.memwall.checkpoint.Profiler;
import dev.memwall.data.Batch;
import dev.memwall.nn.FlatParameters;
import dev.memwall.nn.Gpt;
import dev.memwall.optim.LrSchedule;
import dev.memwall.optim.Optimizer;
import dev.memwall.optim.Shard;
import dev.memwall.rng.Rng;
import dev.memwall.sharding.ProcessGroup;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static dev.memwall.train.DataParallelTest.CONFIG;
import static dev.memwall.train.DataParallelTest.batches;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * Stage 2's gradient-ready hooks under every checkpointing policy (NONE, EVERY_LAYER, SELECTIVE and a BUDGET plan
 * that recomputes): each parameter is reported exactly once per backward — recomputation records new nodes into the
 * same parameters but must not report them again (DeepSpeed's "Gradient computed twice for this partition",
 * deepspeedai/DeepSpeed#988) — and with accumulated micro-batches the buckets are reduced once per step, to the sum
 * the plain all-reduce of stage 0 computes.
 */
@Timeout(600)
class ZeroStage2HooksTest {
    static final List<Batch> DATA = batches(31, 6);

    /** Records the reduced gradients it is handed, by flat element (NaN where it owns nothing); updates nothing. */
    static final class Recorder extends Optimizer {
        final float[] seen;

        Recorder(FlatParameters params, Shard shard) {
            super(params, shard, 0);
            seen = new float[params.count()];
            Arrays.fill(seen, Float.NaN);
        }

        @Override
        protected void update(float[] values, float[] grads) {
            for (int k = 0; k < shard.starts().length; k++) {
                System.arraycopy(grads, shard.gradStarts()[k], seen, shard.starts()[k], shard.lengths()[k]);
            }
        }

        @Override
        public Map<String, Tensor> stateTensors() {
            return Map.of();
        }
    }

    /** The policies: three named ones and a BUDGET plan at the least feasible budget, profiled on this rank's rows. */
    static Policy policy(String name, Gpt model, DataParallel dp) {
        return switch (name) {
            case "NONE" -> Policy.none(CONFIG.layers());
            case "EVERY_LAYER" -> Policy.everyLayer(CONFIG.layers());
            case "SELECTIVE" -> Policy.selective(CONFIG.layers());
            default -> {
                Batch sample = dp.localRows(DATA.get(0));
                Planner.Profile profile;
                try (Scope s = Scope.open()) {
                    profile = Profiler.profile(model, sample.idsTensor(), sample.targetsTensor(), 0);
                }
                Policy p = Planner.plan(profile, Planner.minimumFeasible(profile)).policy();
                assertThat(p.segments().stream().anyMatch(seg -> seg[2] != Policy.KEEP)).as("%s recomputes", p.name()).isTrue();
                yield p;
            }
        };
    }

    /** What one rank saw per step: reports per parameter, buckets issued in and after backward, bytes sent. */
    record Seen(List<long[]> reportsPerStep, int buckets, int[] issuedIn, int[] issuedAfter, long[] sent, float[] reduced) {
    }

    static Seen run(ProcessGroup g, ZeroStage stage, String policyName, int accum) {
        Gpt model = new Gpt(CONFIG, new Rng(7));
        DataParallel dp = DataParallel.of(model, g, stage, 64 * g.worldSize());
        Checkpointing.install(model, policy(policyName, model, dp));
        Recorder recorder = new Recorder(dp.params(), dp.shard());
        Trainer t = new Trainer(model, dp, recorder, LrSchedule.constant(0), 0);
        GradientBuckets b = dp.buckets();
        int steps = DATA.size() / accum;
        List<long[]> reports = new ArrayList<>();
        int[] in = new int[steps], after = new int[steps];
        long[] sent = new long[steps];
        for (int s = 0; s < steps; s++) {
            long[] before = b == null ? null : b.reportCounts();
            StepStats st = t.step(DATA.subList(s * accum, (s + 1) * accum).toArray(new Batch[0]));
            sent[s] = st.commBytesSent();
            if (b == null) continue;
            long[] now = b.reportCounts();
            for (int p = 0; p < now.length; p++) now[p] -= before[p];
            reports.add(now);
            in[s] = b.issuedInBackward();
            after[s] = b.issuedAfterBackward();
        }
        return new Seen(reports, b == null ? 0 : b.bucketCount(), in, after, sent, recorder.seen);
    }

    @Test
    void everyParameterIsReportedOncePerBackwardAndReducedOncePerStepUnderEveryPolicy() {
        for (String policy : new String[]{"NONE", "EVERY_LAYER", "SELECTIVE", "BUDGET"}) {
            long[] sentWithOneMicroBatch = null;
            for (int accum : new int[]{1, 3}) {
                List<Seen> ranks = Ranks.run(2, g -> run(g, ZeroStage.STAGE_2, policy, accum));
                for (int r = 0; r < 2; r++) {
                    Seen seen = ranks.get(r);
                    String what = policy + ", " + accum + " micro-batch(es), rank " + r;
                    assertThat(seen.buckets).as(what).isGreaterThan(4);
                    for (int s = 0; s < seen.reportsPerStep.size(); s++) {
                        long[] expected = new long[seen.reportsPerStep.get(s).length];
                        Arrays.fill(expected, accum);
                        assertThat(seen.reportsPerStep.get(s)).as("%s step %d: reports per parameter", what, s).isEqualTo(expected);
                        assertThat(seen.issuedIn[s]).as("%s step %d: one reduce-scatter per bucket", what, s).isEqualTo(seen.buckets);
                        assertThat(seen.issuedAfter[s]).as(what).isZero();
                    }
                    // the same gradient bytes whatever the number of micro-batches (one reduction per step, not per
                    // micro-batch); only the all-reduced loss scalars grow, one float per micro-batch: 2·(N−1)/N·4 bytes
                    if (accum == 1) sentWithOneMicroBatch = seen.sent;
                    else assertThat(seen.sent[0] - sentWithOneMicroBatch[0]).as(what).isEqualTo(4L * (accum - 1));
                }
            }
        }
    }

    /**
     * Three accumulated micro-batches on two ranks: the gradient stage 2's optimizer is handed (each rank its pieces)
     * is bitwise the one stage 0's all-reduce hands it, with and without recomputation.
     */
    @Test
    void accumulatedMicroBatchesReduceToStageZerosSum() {
        for (String policy : new String[]{"NONE", "EVERY_LAYER"}) {
            float[] plain = Ranks.run(2, g -> run(g, ZeroStage.STAGE_0, policy, 3)).get(0).reduced;
            List<Seen> ranks = Ranks.run(2, g -> run(g, ZeroStage.STAGE_2, policy, 3));
            float[] sharded = new float[plain.length];
            Arrays.fill(sharded, Float.NaN);
            for (Seen s : ranks) {
                for (int i = 0; i < sharded.length; i++) if (!Float.isNaN(s.reduced[i])) sharded[i] = s.reduced[i];
            }
            assertThat(plain).as("stage 0 saw every element").doesNotContain(Float.NaN);
            assertThat(sharded).as("%s: stage 2's pieces against stage 0's all-reduce", policy).isEqualTo(plain);
        }
    }
}
