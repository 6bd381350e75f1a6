package dev.memwall.cli;

/**
 * The heap (-Xmx) a compare-sharding worker JVM needs for a job whose step was measured: what its real-memory advice
 * predicts per (stage, N).
 *
 * <p>{@code required = 1.5 · model state + rest + JVM base}, where model state is the ZeRO formula's and rest is the
 * step's other tracked peak bytes as measured (activations, gathered units and gradient buffers, workspace).
 * <ul>
 *   <li>Model state lives across every step, so it ends up in the parallel collector's old generation, which is 2/3
 *       of the heap (NewRatio 2): it needs 1.5 times its bytes of heap.</li>
 *   <li>The rest lives for one step. Under a tight heap the collector's adaptive sizing lets the old generation grow
 *       into what the young one does not use (seen in -Xlog:gc: "86M->86M(92M)" at -Xmx96m), and {@code ArrayCache}
 *       hands its cached arrays back when an allocation fails, so the rest needs about its own bytes.</li>
 *   <li>The JVM base is the worker's own live heap besides tracked arrays (the command line, JSON, the transport's
 *       scratch, the cache's leftovers a full collection keeps): the 8 MiB of slack between the tracked peak and the
 *       smallest heap that trained in the measurements below.</li>
 * </ul>
 * Calibrated on the measurements (BENCHMARKS.md, "Real memory and stage 3"): stage 1 on 2 workers, L4 D256 ctx64 batch
 * 4 (37.85 MiB model state, 10.13 MiB rest): predicted 74.9 MiB; out of memory at -Xmx70m, trained at -Xmx76m. Stage 3
 * on 4 workers, the GPT benchmark model (18.70 + 68.35 MiB): predicted 104.4 MiB; out of memory at -Xmx88m and -Xmx96m,
 * trained at -Xmx110m. The former single factor, 1.5 on the whole tracked peak, predicted 130.6 MiB for the latter,
 * while stage 3 on 4 workers of L8 D256 ctx64 batch 4 (24.67 + 22.32 MiB; predicted 70.5 MiB by it, 67.3 MiB now)
 * ran out of memory at -Xmx72m.
 */
final class WorkerHeap {
    /** Heap per byte of model state: the old generation is 2/3 of the heap. */
    static final double MODEL_STATE_FACTOR = 1.5;
    /** The worker's own live heap besides tracked arrays. */
    static final long JVM_BASE = 8L << 20;

    private WorkerHeap() {
    }

    /** The heap a worker of (stage, N) needs, from its model state (formula) and the rest of its measured peak. */
    static long required(double modelStateBytes, long restBytes) {
        return (long) Math.ceil(MODEL_STATE_FACTOR * modelStateBytes) + Math.max(0, restBytes) + JVM_BASE;
    }

    /** {@link #required(double, long)} of a measured job. */
    static long required(ShardedTrainingRun.Measured m) {
        return required(m.modelStateFormula(), m.restBytes());
    }

    /** How {@link #required} is made up, for the advice line. */
    static String explain(ShardedTrainingRun.Measured m) {
        return String.format("%.1f × model state %s + rest %s + JVM %s", MODEL_STATE_FACTOR,
                CompareShardingCommand.mib(Math.round(m.modelStateFormula())), CompareShardingCommand.mib(m.restBytes()),
                CompareShardingCommand.mib(JVM_BASE));
    }
}
