package dev.memwall.cli;

import com.fasterxml.jackson.databind.JsonNode;
import dev.memwall.sharding.launch.LaunchResult;
import dev.memwall.sharding.launch.Launcher;
import dev.memwall.train.ZeroStage;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * compare-optimizers' ZeRO-2 rows: AdamW and AdaHessian (a Hessian estimate every step) trained at ZeRO stage 2 on
 * N worker JVMs through the launcher, each rank running {@code train --zero 2 --json} on the benchmark model's shape
 * (compare-sharding's worker, {@link ShardedTrainingRun}). A row holds the largest figure over ranks — per category
 * of peak bytes, and the median step time — since a job fits (and finishes) only when its largest rank does.
 */
final class ShardedOptimizerRows {
    private ShardedOptimizerRows() {
    }

    /** One row per optimizer ("adamw", "adahessian"), in the command's row format plus zero_stage and world_size. */
    static List<Map<String, Object>> measure(ModelOptions model, long seed, int workers, int steps) throws IOException, InterruptedException {
        ShardedTrainingRun run = new ShardedTrainingRun(model, seed);
        List<Map<String, Object>> rows = new ArrayList<>();
        try {
            for (String optimizer : List.of("adamw", "adahessian")) {
                List<String> args = run.workerArgs(ZeroStage.STAGE_2, steps);
                args.addAll(List.of("--optimizer", optimizer));
                if (optimizer.equals("adahessian")) args.addAll(List.of("--update-each", "1"));
                ByteArrayOutputStream log = new ByteArrayOutputStream();
                PrintStream sink = new PrintStream(log, true, StandardCharsets.UTF_8);
                LaunchResult r = Launcher.builder(Main.class.getName(), args).nproc(workers).collectJson(true).output(sink, sink).build().run();
                sink.flush();
                if (r.exitCode() != 0) {
                    throw new IllegalStateException(optimizer + " at ZeRO stage 2 on " + workers + " workers failed (exit " + r.exitCode()
                            + "): " + log.toString(StandardCharsets.UTF_8).strip());
                }
                rows.add(row(optimizer, workers, r));
                System.err.printf("ZeRO-2 on %d workers, %s: %.1f ms/step (median, slowest rank)%n", workers, optimizer,
                        (double) rows.get(rows.size() - 1).get("step_ms"));
            }
        } finally {
            run.close();
        }
        return rows;
    }

    private static Map<String, Object> row(String optimizer, int workers, LaunchResult r) {
        Map<String, Long> peaks = new LinkedHashMap<>();
        long total = 0;
        double ms = 0;
        for (LaunchResult.Rank rank : r.ranks()) {
            JsonNode j = rank.summary();
            if (j == null) throw new IllegalStateException("rank " + rank.rank() + " exited 0 without a JSON summary");
            JsonNode pk = j.path("peak_bytes");
            for (Iterator<Map.Entry<String, JsonNode>> it = pk.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                if (e.getKey().equals("total")) total = Math.max(total, e.getValue().asLong());
                else peaks.merge(e.getKey(), e.getValue().asLong(), Math::max);
            }
            ms = Math.max(ms, j.path("step_ms_median").asDouble());
        }
        Map<String, Object> row = new LinkedHashMap<>();
        row.put("optimizer", optimizer);
        row.put("update_each", optimizer.equals("adamw") ? null : 1);
        row.put("policy", "NONE");
        row.put("step_ms", BenchCommand.round(ms));
        row.put("peak_bytes", peaks);
        row.put("peak_total_bytes", total);
        row.put("zero_stage", 2);
        row.put("world_size", workers);
        return row;
    }
}
