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
 * <p>The prediction for (stage, N) is the ZeRO formula for its model state plus the bytes of the step that are not
 * model state (activations, workspace, communication buffers) as measured in that job, times {@link #HEAP_FACTOR} for
 * the JVM. The advice is the fewest workers, then the lowest stage, that fit: fewer JVMs cost less memory and time in
 * all, and at equal N a lower stage moves no more bytes.
 */
final class ShardingMemoryDemo {
    static final int STEPS = 2;
    /**
     * Heap per tracked byte a worker needs. The parallel collector keeps the old generation at 2/3 of the heap
     * (NewRatio 2), and the model state, which lives across steps, must fit in it: 1.5. Measured on L4 D256 H4 ctx64
     * batch 4 (3.31M parameters) at stage 1 on 2 workers, 48 MiB tracked per rank: -Xmx70m ran out of memory, -Xmx76m
     * trained. (compare-memory's quarter, {@link OutOfMemoryAdvice#heapFor}, was measured where activations, which die
     * young, dominate; here model state does.)
     */
    static final double HEAP_FACTOR = 1.5;
    /** Below this a worker JVM would fail for want of heap before training, which demonstrates nothing. */
    static final long MIN_HEAP = 16L << 20;

    /** What happened; {@code failure} says why the demonstration did not come out as it should, or is null. */
    record Result(long heapLimit, ShardedTrainingRun.Measured advice, long predictedBytes, ShardedTrainingRun.Outcome single,
                  ShardedTrainingRun.Outcome advised, String failure, String shape) {
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
                out.add(String.format("  advice: --zero %d on %d workers (predicted %s per rank: formula %s + measured rest %s, "
                                + "times %.1f for the JVM): ./memwall launch --nproc %d --heap %dm train --zero %d %s --data FILE",
                        advice.stage().number(), advice.n(), CompareShardingCommand.mib(predictedBytes),
                        CompareShardingCommand.mib(Math.round(advice.modelStateFormula())), CompareShardingCommand.mib(advice.restBytes()),
                        HEAP_FACTOR, advice.n(), mib, advice.stage().number(), shape));
                out.add(advised.trained()
                        ? String.format("  stage %d, N=%d: trained; peak %s per rank", advice.stage().number(), advice.n(),
                        CompareShardingCommand.mib(advised.measured().peakTotalBytes()))
                        : String.format("  stage %d, N=%d: exit %d, %s", advice.stage().number(), advice.n(), advised.exitCode(), advised.failure()));
            }
            return out;
        }
    }

    private ShardingMemoryDemo() {
    }

    /** The heap limit by default: the single process's measured peak in whole MiB, which its tracked arrays alone fill. */
    static long defaultHeap(List<ShardedTrainingRun.Measured> rows) {
        return single(rows).peakTotalBytes() >> 20 << 20;
    }

    /** The bytes (stage, N) is predicted to need per rank: the formula's model state plus the measured rest. */
    static long predicted(ShardedTrainingRun.Measured m) {
        return Math.round(m.modelStateFormula()) + m.restBytes();
    }

    /** The fewest workers, then the lowest stage, predicted to fit in {@code heapLimit}, or null if none does. */
    static ShardedTrainingRun.Measured advise(List<ShardedTrainingRun.Measured> rows, long heapLimit) {
        return rows.stream().filter(m -> m.n() > 1 && predicted(m) * HEAP_FACTOR <= heapLimit)
                .min(Comparator.comparingInt(ShardedTrainingRun.Measured::n).thenComparingInt(m -> m.stage().number())).orElse(null);
    }

    static Result run(ShardedTrainingRun runner, List<ShardedTrainingRun.Measured> rows, Long heapBytes)
            throws IOException, InterruptedException {
        long limit = heapBytes != null ? heapBytes >> 20 << 20 : defaultHeap(rows);
        if (limit < MIN_HEAP) {
            String failure = String.format("the real-memory demonstration needs a heap limit of at least %d MiB (a JVM with less "
                    + "does not start); the single process's measured peak is %s: use a larger model (e.g. --layers 4 --dim 256 --ctx 64 "
                    + "--batch 4) or --heap", MIN_HEAP >> 20, CompareShardingCommand.mib(single(rows).peakTotalBytes()));
            return new Result(limit, null, 0, null, null, failure, runner.shapeArgs());
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
        String failure = wrong.isEmpty() ? null
                : "the real-memory demonstration did not come out as expected under -Xmx" + (limit >> 20) + "m: " + String.join("; ", wrong);
        return new Result(limit, advice, advice == null ? 0 : predicted(advice), single, advised, failure, runner.shapeArgs());
    }

    private static ShardedTrainingRun.Measured single(List<ShardedTrainingRun.Measured> rows) {
        return rows.stream().filter(m -> m.n() == 1).min(Comparator.comparingInt(m -> m.stage().number()))
                .orElseThrow(() -> new IllegalStateException("no single-process row"));
    }
}
