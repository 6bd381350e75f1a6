package dev.memwall.cli;

import dev.memwall.checkpoint.Checkpointing;
import dev.memwall.checkpoint.Policy;
import dev.memwall.memory.Category;
import dev.memwall.memory.MemoryTracker;
import dev.memwall.nn.GptConfig;
import dev.memwall.optim.AdaHessian;
import dev.memwall.optim.AdamW;
import dev.memwall.optim.Shard;
import org.knowm.xchart.CategoryChart;
import org.knowm.xchart.CategoryChartBuilder;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * AdamW against AdaHessian on the GPT benchmark model under NONE, SELECTIVE and EVERY_LAYER checkpointing: peak bytes
 * by category, step time, and the time the Hessian-vector product adds. AdaHessian runs twice: estimating the Hessian
 * every step, and every {@code --update-each} steps (its mean step time is what the delay buys). With
 * {@code --workers N} (default 2) both also train at ZeRO stage 2 on N worker JVMs ({@link ShardedOptimizerRows}):
 * per-rank peaks by category and step time, where AdaHessian's three state vectors are sharded like AdamW's two.
 */
@Command(name = "compare-optimizers", mixinStandardHelpOptions = true,
        description = {"Peak memory and step time of AdamW and AdaHessian on the GPT benchmark model under NONE, SELECTIVE "
                + "and EVERY_LAYER checkpointing, and at ZeRO stage 2 on --workers worker JVMs (per rank).",
                "Its default model (L6 D256 H4 ctx128, batch 16) is larger than train's; the first line printed names the model that runs."})
final class CompareOptimizersCommand implements Callable<Integer> {
    @Mixin
    ModelOptions model = new ModelOptions();
    @Option(names = "--update-each", description = "the delayed AdaHessian's interval (default: ${DEFAULT-VALUE})")
    int updateEach = 5;
    @Option(names = "--warmup", description = "untimed steps per run (default: ${DEFAULT-VALUE})")
    int warmup = 1;
    @Option(names = "--steps", description = "timed steps per run and round; the delayed AdaHessian runs --update-each of them "
            + "at least (default: ${DEFAULT-VALUE})")
    int steps = 2;
    @Option(names = "--rounds", description = "rounds over all runs, which take turns so a slow spell falls on all of them "
            + "(default: ${DEFAULT-VALUE})")
    int rounds = 2;
    @Option(names = "--workers", description = "also train AdamW and AdaHessian at ZeRO stage 2 on this many worker JVMs "
            + "(--warmup + --steps steps each); 0 leaves those rows out (default: ${DEFAULT-VALUE})")
    int workers = 2;
    @Option(names = "--seed", description = "seed (default: ${DEFAULT-VALUE})")
    long seed = 0;
    @Option(names = "--hessian-dtype", paramLabel = "FORMAT", description = "fp32 or bf16 operands for the fused Hessian pass's "
            + "tangent GEMMs in AdaHessian's runs (the ZeRO-2 rows take the region route, in FP32) (default: ${DEFAULT-VALUE})")
    String hessianDtype = "fp32";
    @Option(names = "--chart", description = "draw peak memory by category and step time per run (.png or .svg)")
    Path chart;
    @Option(names = "--json", description = "print one JSON array of rows")
    boolean json;
    @Option(names = "--verbose", description = "stack traces on errors")
    boolean verbose;
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    /** One optimizer setting: its row label and the AdaHessian interval (0 = AdamW). */
    private record Setting(String label, int updateEach) {
    }

    @Override
    public Integer call() throws Exception {
        CommandLine cl = spec.commandLine();
        model.validate(cl);
        if (warmup < 0 || steps < 1 || rounds < 1 || updateEach < 1 || workers < 0 || workers == 1) {
            throw new CommandLine.ParameterException(cl, "--steps, --rounds and --update-each must be >= 1, --warmup >= 0 and "
                    + "--workers 0 or >= 2");
        }
        if (workers > 0 && model.batch % workers != 0) {
            throw new CommandLine.ParameterException(cl, "--batch " + model.batch + " does not split evenly over --workers " + workers);
        }
        if (chart != null) {
            try {
                MemoryReport.checkChartName(chart);
            } catch (IllegalArgumentException e) {
                throw new CommandLine.ParameterException(cl, e.getMessage().replace("--memory-chart", "--chart"));
            }
        }
        dev.memwall.train.HessianDtype hessian;
        try {
            hessian = dev.memwall.train.HessianDtype.parse(hessianDtype);
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(cl, e.getMessage());
        }
        GptConfig c = model.config(256, 0f);
        int layers = c.layers();
        List<Policy> policies = List.of(Policy.none(layers), Policy.selective(layers), Policy.everyLayer(layers));
        List<Setting> settings = List.of(new Setting("adamw", 0), new Setting("adahessian", 1),
                new Setting("adahessian/" + updateEach, updateEach));
        System.err.println(ModelLine.of(c, new dev.memwall.nn.Gpt(c, new dev.memwall.rng.Rng(seed)).parameterCount(),
                String.format(", batch %d; AdamW and AdaHessian (every step, every %d) under %d policies, %d rounds",
                        model.batch, updateEach, policies.size(), rounds)));
        int n = policies.size() * settings.size();
        List<List<Double>> times = new ArrayList<>();
        BenchCommand.Result[] first = new BenchCommand.Result[n];
        for (int i = 0; i < n; i++) times.add(new ArrayList<>());
        for (int round = 0; round < rounds; round++) {
            for (int i = 0; i < n; i++) {
                Policy p = policies.get(i / settings.size());
                Setting s = settings.get(i % settings.size());
                int timed = s.updateEach() > 1 ? Math.max(steps, s.updateEach()) / s.updateEach() * s.updateEach() : steps;
                BenchCommand.Result r;
                try (var t = MemoryTracker.install(new MemoryTracker())) {
                    r = BenchCommand.run(c, model.batch, warmup, timed, seed, (gpt, b) -> {
                        Checkpointing.install(gpt, p);
                        return p;
                    }, null, false, flat -> s.updateEach() == 0 ? new AdamW(flat, AdamW.Config.defaults(3e-4))
                            : new AdaHessian(flat, Shard.range(0, flat.length()), AdaHessian.Config.defaults().withLr(3e-4)
                            .withHessian(1, 1, 1, s.updateEach()).withSeed(seed)), s.label(), null, hessian);
                }
                if (round == 0) first[i] = r;
                // the delayed runs' figure is the mean over whole intervals; the others the median of their steps
                if (s.updateEach() > 1) times.get(i).add(java.util.Arrays.stream(r.stepMs()).average().orElseThrow());
                else for (double ms : r.stepMs()) times.get(i).add(ms);
                System.err.printf("round %d/%d %s %s: %.1f ms/step%n", round + 1, rounds, p.name(), s.label(),
                        java.util.Arrays.stream(r.stepMs()).average().orElseThrow());
            }
        }
        List<Map<String, Object>> rows = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            Policy p = policies.get(i / settings.size());
            Setting s = settings.get(i % settings.size());
            double[] all = times.get(i).stream().mapToDouble(Double::doubleValue).toArray();
            Map<String, Object> row = new LinkedHashMap<>();
            row.put("optimizer", s.updateEach() == 0 ? "adamw" : "adahessian");
            row.put("update_each", s.updateEach() == 0 ? null : s.updateEach());
            row.put("hessian_dtype", s.updateEach() == 0 ? null : hessian.label());
            row.put("policy", p.name());
            row.put("step_ms", BenchCommand.round(BenchCommand.median(all)));
            Map<String, Long> peaks = new LinkedHashMap<>();
            first[i].last().peakBytes().forEach((cat, bytes) -> peaks.put(cat.name().toLowerCase(Locale.ROOT), bytes));
            row.put("peak_bytes", peaks);
            row.put("peak_total_bytes", first[i].last().peakTotalBytes());
            row.put("zero_stage", 0);
            row.put("world_size", 1);
            rows.add(row);
        }
        long adamwNone = (long) rows.get(0).get("peak_total_bytes");
        for (int i = 0; i < n; i++) {
            Map<String, Object> row = rows.get(i);
            int base = i - i % settings.size(); // AdamW under the same policy
            double adamwMs = (double) rows.get(base).get("step_ms");
            row.put("step_vs_adamw", BenchCommand.round((double) row.get("step_ms") / adamwMs));
            // what one Hessian-vector product costs: the every-step AdaHessian's step less AdamW's, same policy
            if (i % settings.size() == 1) row.put("hvp_ms", BenchCommand.round((double) row.get("step_ms") - adamwMs));
            row.put("peak_vs_adamw_none", BenchCommand.round((double) (long) row.get("peak_total_bytes") / adamwNone));
        }
        if (workers > 0) { // per rank; step times against AdamW's at the same stage
            List<Map<String, Object>> zero = ShardedOptimizerRows.measure(model, seed, workers, warmup + steps);
            double adamwMs = (double) zero.get(0).get("step_ms");
            for (Map<String, Object> row : zero) {
                row.put("step_vs_adamw", BenchCommand.round((double) row.get("step_ms") / adamwMs));
                if (row.get("update_each") != null) row.put("hvp_ms", BenchCommand.round((double) row.get("step_ms") - adamwMs));
                row.put("peak_vs_adamw_none", BenchCommand.round((double) (long) row.get("peak_total_bytes") / adamwNone));
                rows.add(row);
            }
        }
        if (chart != null) dev.memwall.io.AtomicFiles.write(chart, chart(rows, chart.getFileName().toString()));
        if (json) {
            System.out.println(Json.line(rows));
        } else {
            System.out.printf("%-22s %-12s %10s %10s %10s %10s %10s %9s %9s%n", "optimizer", "policy", "total MiB", "act MiB",
                    "grad MiB", "state MiB", "step ms", "vs adamw", "hvp ms");
            for (Map<String, Object> r : rows) {
                @SuppressWarnings("unchecked") Map<String, Long> pk = (Map<String, Long>) r.get("peak_bytes");
                Object hvp = r.get("hvp_ms");
                System.out.printf("%-22s %-12s %10.1f %10.1f %10.1f %10.1f %10.1f %8.2fx %9s%n", label(r), r.get("policy"),
                        mib(r.get("peak_total_bytes")), mib(pk.get("activation")), mib(pk.get("gradient")), mib(pk.get("optimizer_state")),
                        (double) r.get("step_ms"), (double) r.get("step_vs_adamw"), hvp == null ? "" : String.format("%.1f", (double) hvp));
            }
        }
        return 0;
    }

    private static String label(Map<String, Object> r) {
        String zero = (int) r.get("zero_stage") == 0 ? "" : " zero" + r.get("zero_stage") + "x" + r.get("world_size");
        return (r.get("update_each") == null ? "adamw" : "adahessian/" + r.get("update_each")) + zero;
    }

    private static double mib(Object bytes) {
        return ((Number) bytes).longValue() / 1048576.0;
    }

    private static byte[] chart(List<Map<String, Object>> rows, String fileName) throws java.io.IOException {
        CategoryChart ch = new CategoryChartBuilder().width(1000).height(520)
                .title("AdamW vs AdaHessian: peak memory by category and step time").xAxisTitle("optimizer / policy")
                .yAxisTitle("MiB / % of AdamW's step time").build();
        ch.getStyler().setChartBackgroundColor(java.awt.Color.WHITE);
        ch.getStyler().setStacked(false);
        ch.getStyler().setXAxisLabelRotation(30);
        List<String> names = new ArrayList<>();
        Map<String, List<Double>> series = new LinkedHashMap<>();
        for (String cat : new String[]{"activation", "gradient", "optimizer_state", "parameter"}) series.put(cat, new ArrayList<>());
        List<Double> total = new ArrayList<>(), ms = new ArrayList<>();
        for (Map<String, Object> r : rows) {
            String policy = (String) r.get("policy");
            names.add(label(r).replace("adahessian", "AH") + " " + (policy.startsWith("EVERY") ? "EVERY" : policy.startsWith("SEL") ? "SEL" : policy));
            @SuppressWarnings("unchecked") Map<String, Long> pk = (Map<String, Long>) r.get("peak_bytes");
            series.forEach((cat, list) -> list.add(mib(pk.getOrDefault(cat, 0L))));
            total.add(mib(r.get("peak_total_bytes")));
            ms.add(100 * (double) r.get("step_vs_adamw"));
        }
        ch.addSeries("peak total (MiB)", names, total);
        series.forEach((cat, list) -> ch.addSeries("peak " + cat + " (MiB)", names, list));
        ch.addSeries("step time, % of AdamW's (same policy)", names, ms);
        return Charts.encode(ch, fileName);
    }
}
