package dev.memwall.cli;

import dev.memwall.train.ZeroStage;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * compare-sharding's real-memory demonstration: under one per-worker heap limit the single process (stage 0, N = 1)
 * runs out of memory, a stage and N predicted to fit are advised, and that job then trains under the same limit.
 *
 * <p>The prediction for (stage, N) is {@link WorkerHeap#required}: the ZeRO formula's model state, which needs 1.5 times
 * its bytes (the old generation), plus the bytes of the step that are not model state (activations, gathered units,
 * workspace, communication buffers) as measured in that job, plus the JVM's own. The advice is the fewest workers,
 * then the lowest stage, that fit: fewer JVMs cost less memory and time in all, and at equal N a lower stage moves no
 * more bytes. Then ZeRO-3 on the most workers measured trains under the same limit too (if it is not the advice).
 */
final class ShardingMemoryDemo {
    static final int STEPS = 2;
    /** Below this a worker JVM would fail for want of heap before training, which demonstrates nothing. */
    static final long MIN_HEAP = 16L << 20;

    /** What happened; {@code failure} says why the demonstration did not come out as it should, or is null. */
    record Result(long heapLimit, ShardedTrainingRun.Measured advice, long predictedBytes, ShardedTrainingRun.Outcome single,
                  ShardedTrainingRun.Outcome advised, String failure, String shape, ShardedTrainingRun.Measured stage3,
                  ShardedTrainingRun.Outcome stage3Outcome) {
        Map<String, Object> toJson() {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("heap_limit_bytes", heapLimit);
            m.put("single_exit_code", single == null ? null : single.exitCode());
            m.put("single_trained", single != null && single.trained());
            m.put("single_message", single == null || single.trained() ? null : single.failure());
            m.put("advised_zero_stage", advice == null ? null : advice.stage().number());
            m.put("advised_world_size", advice == null ? null : advice.n());
            m.put("advised_predicted_bytes", advice == null ? null : predictedBytes);
            m.put("advised_exit_code", advised == null ? null : advised.exitCode());
            m.put("advised_trained", advised != null && advised.trained());
            m.put("advised_peak_total_bytes", advised != null && advised.trained() ? advised.measured().peakTotalBytes() : null);
            // ZeRO-3 on the most workers measured, under the same limit (the advised job when it is that one)
            ShardedTrainingRun.Outcome z3 = stage3Outcome != null ? stage3Outcome : stage3 != null && stage3 == advice ? advised : null;
            m.put("zero3_world_size", stage3 == null ? null : stage3.n());
            m.put("zero3_predicted_bytes", stage3 == null ? null : WorkerHeap.required(stage3));
            m.put("zero3_trained", z3 != null && z3.trained());
            return m;
        }

        List<String> lines() {
            List<String> out = new ArrayList<>();
            long mib = heapLimit >> 20;
            out.add(String.format("real memory, -Xmx%dm per worker, %d steps:", mib, STEPS));
            if (single == null) {
                out.add("  not run: " + failure);
                return out;
            }
            out.add(single.trained() ? "  stage 0, N=1: trained (expected to run out of memory)"
                    : "  stage 0, N=1: exit " + single.exitCode() + ", " + single.failure());
            if (advice == null) {
                out.add("  advice: none of the stages and worker counts measured is predicted to fit");
            } else {
                out.add(String.format("  advice: --zero %d on %d workers (predicted heap %s per rank: %s): ./memwall launch "
                                + "--nproc %d --heap %dm train --zero %d %s --data FILE",
                        advice.stage().number(), advice.n(), CompareShardingCommand.mib(predictedBytes), WorkerHeap.explain(advice),
                        advice.n(), mib, advice.stage().number(), shape));
                out.add(advised.trained()
                        ? String.format("  stage %d, N=%d: trained; peak %s per rank", advice.stage().number(), advice.n(),
                        CompareShardingCommand.mib(advised.measured().peakTotalBytes()))
                        : String.format("  stage %d, N=%d: exit %d, %s", advice.stage().number(), advice.n(), advised.exitCode(), advised.failure()));
            }
            if (stage3Outcome != null) {
                out.add(stage3Outcome.trained()
                        ? String.format("  stage 3, N=%d (predicted heap %s per rank): trained the same model; peak %s per rank", stage3.n(),
                        CompareShardingCommand.mib(WorkerHeap.required(stage3)), CompareShardingCommand.mib(stage3Outcome.measured().peakTotalBytes()))
                        : String.format("  stage 3, N=%d: exit %d, %s", stage3.n(), stage3Outcome.exitCode(), stage3Outcome.failure()));
            }
            return out;
        }
    }

    private ShardingMemoryDemo() {
    }

    /** Heap beyond ZeRO-3's predicted need in the default limit: the model's error on the jobs it was checked against. */
    static final double HEADROOM = 1.05;

    /**
     * The heap limit by default: what ZeRO-3 on the most workers measured is predicted to need, with {@link #HEADROOM},
     * in whole MiB — so that job trains and, on a model where it fits and stage 2 does not, is the advice — unless the
     * single process's measured peak (which its tracked arrays alone fill, so it cannot train) is smaller.
     */
    static long defaultHeap(List<ShardedTrainingRun.Measured> rows) {
        long single = single(rows).peakTotalBytes() >> 20 << 20;
        ShardedTrainingRun.Measured stage3 = stageThree(rows);
        if (stage3 == null) return single;
        long needed = ((long) Math.ceil(WorkerHeap.required(stage3) * HEADROOM / (1 << 20))) << 20;
        return Math.min(single, needed);
    }

    /** The heap (stage, N) is predicted to need per worker ({@link WorkerHeap#required}). */
    static long predicted(ShardedTrainingRun.Measured m) {
        return WorkerHeap.required(m);
    }

    /** ZeRO-3 on the most workers measured (more than one), or null when it was not measured. */
    static ShardedTrainingRun.Measured stageThree(List<ShardedTrainingRun.Measured> rows) {
        return rows.stream().filter(m -> m.stage() == ZeroStage.STAGE_3 && m.n() > 1)
                .max(Comparator.comparingInt(ShardedTrainingRun.Measured::n)).orElse(null);
    }

    /** The fewest workers, then the lowest stage, predicted to fit in {@code heapLimit}, or null if none does. */
    static ShardedTrainingRun.Measured advise(List<ShardedTrainingRun.Measured> rows, long heapLimit) {
        return rows.stream().filter(m -> m.n() > 1 && predicted(m) <= heapLimit)
                .min(Comparator.comparingInt(ShardedTrainingRun.Measured::n).thenComparingInt(m -> m.stage().number())).orElse(null);
    }

    static Result run(ShardedTrainingRun runner, List<ShardedTrainingRun.Measured> rows, Long heapBytes)
            throws IOException, InterruptedException {
        long limit = heapBytes != null ? heapBytes >> 20 << 20 : defaultHeap(rows);
        if (limit < MIN_HEAP) {
            String failure = String.format("the real-memory demonstration needs a heap limit of at least %d MiB (a JVM with less "
                    + "does not start); the single process's measured peak is %s: use a larger model (e.g. --layers 4 --dim 256 --ctx 64 "
                    + "--batch 4) or --heap", MIN_HEAP >> 20, CompareShardingCommand.mib(single(rows).peakTotalBytes()));
            return new Result(limit, null, 0, null, null, failure, runner.shapeArgs(), null, null);
        }
        System.err.printf("real memory: stage 0 on one worker under -Xmx%dm%n", limit >> 20);
        ShardedTrainingRun.Outcome single = runner.run(ZeroStage.STAGE_0, 1, STEPS, limit);
        ShardedTrainingRun.Measured advice = advise(rows, limit);
        List<String> wrong = new ArrayList<>();
        if (single.trained()) wrong.add("the single process did not run out of memory");
        ShardedTrainingRun.Outcome advised = null;
        if (advice == null) {
            wrong.add("no stage and worker count measured is predicted to fit; try more workers or a larger --heap");
        } else {
            System.err.printf("real memory: advised stage %d on %d workers under -Xmx%dm%n", advice.stage().number(), advice.n(), limit >> 20);
            advised = runner.run(advice.stage(), advice.n(), STEPS, limit);
            if (!advised.trained()) wrong.add("stage " + advice.stage().number() + " on " + advice.n() + " workers did not train: " + advised.failure());
        }
        ShardedTrainingRun.Measured stage3 = stageThree(rows);
        ShardedTrainingRun.Outcome stage3Outcome = null;
        if (stage3 != null && stage3 != advice) { // the claim: ZeRO-3 on the most workers trains the same model
            System.err.printf("real memory: stage 3 on %d workers under -Xmx%dm%n", stage3.n(), limit >> 20);
            stage3Outcome = runner.run(ZeroStage.STAGE_3, stage3.n(), STEPS, limit);
            if (!stage3Outcome.trained()) wrong.add("stage 3 on " + stage3.n() + " workers did not train: " + stage3Outcome.failure());
        }
        String failure = wrong.isEmpty() ? null
                : "the real-memory demonstration did not come out as expected under -Xmx" + (limit >> 20) + "m: " + String.join("; ", wrong);
        return new Result(limit, advice, advice == null ? 0 : predicted(advice), single, advised, failure, runner.shapeArgs(),
                stage3, stage3Outcome);
    }

    private static ShardedTrainingRun.Measured single(List<ShardedTrainingRun.Measured> rows) {
        return rows.stream().filter(m -> m.n() == 1).min(Comparator.comparingInt(m -> m.stage().number()))
                .orElseThrow(() -> new IllegalStateException("no single-process row"));
    }
}
