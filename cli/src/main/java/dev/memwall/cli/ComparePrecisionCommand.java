package dev.memwall.cli;

import com.fasterxml.jackson.databind.JsonNode;
import dev.memwall.autograd.CompressedActivations;
import dev.memwall.checkpoint.Checkpointing;
import dev.memwall.checkpoint.Policy;
import dev.memwall.memory.MemoryTracker;
import dev.memwall.nn.GptConfig;
import dev.memwall.optim.StateFormat;
import dev.memwall.precision.MixedPrecision;
import dev.memwall.precision.Precision;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * One row per precision setting: the default addition task trained in a child JVM ({@code train --json}, as
 * {@code sweep} runs it, so every run starts from the same state of the JIT and caches) for held-out accuracy, final
 * loss, skipped steps, final loss scale, peak bytes and step time; and the GPT benchmark model timed in-process (as
 * {@code compare-optimizers} runs it) for its peak bytes by category and step time.
 */
@Command(name = "compare-precision", mixinStandardHelpOptions = true, description = {"Accuracy, loss, memory and step time "
        + "of fp32, bf16, fp16 (dynamic loss scaling), fp8 (delayed), fp8-current, mxfp8, bf16 with FP8 saved activations "
        + "and fp32 with int8 optimizer state, on the addition task and the GPT benchmark model.",
        "Each training run is `train` in a child JVM with train's defaults unless given here; --layers, --dim, --heads and "
                + "--batch shape both models when given (default: train's and bench's own)."})
final class ComparePrecisionCommand implements Callable<Integer> {
    @Option(names = "--steps", description = "training steps per setting on the addition task (default: ${DEFAULT-VALUE}, train's)")
    int steps = 1500;
    @Option(names = "--settings", split = ",", paramLabel = "LIST", description = "run only these settings (default: all: "
            + "fp32,bf16,fp16+dynamic,fp8-delayed,fp8-current,mxfp8,bf16+act-fp8,fp32+state-int8); the vs-FP32 figures need fp32")
    List<String> only;
    @Option(names = "--bench-steps", description = "timed steps per setting on the GPT benchmark model (default: ${DEFAULT-VALUE})")
    int benchSteps = 3;
    @Option(names = "--bench-warmup", description = "untimed steps first on the GPT benchmark model (default: ${DEFAULT-VALUE})")
    int benchWarmup = 1;
    @Option(names = "--seed", description = "seed of every run (default: ${DEFAULT-VALUE})")
    long seed = 0;
    @Option(names = "--layers", description = "Transformer blocks (default: train's and bench's)")
    Integer layers;
    @Option(names = "--dim", description = "model width (default: train's and bench's)")
    Integer dim;
    @Option(names = "--heads", description = "attention heads (default: train's and bench's)")
    Integer heads;
    @Option(names = "--batch", description = "sequences per step (default: train's and bench's)")
    Integer batch;
    @Option(names = "--ctx", description = "the GPT benchmark model's context length (default: bench's)")
    Integer ctx;
    @Option(names = "--eval-examples", description = "held-out examples of the addition task (default: train's)")
    Integer evalExamples;
    @Option(names = "--chart", description = "draw loss curves per setting and the benchmark model's bytes per category (.png or .svg)")
    Path chart;
    @Option(names = "--json", description = "print one JSON array of rows")
    boolean json;
    @Option(names = "--verbose", description = "stack traces on errors")
    boolean verbose;
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    /** One setting: its row label and the train/bench options that make it. */
    record Setting(String label, String precision, String saveActivations, String optimizerState) {
    }

    /** The settings issue 11 names, in its order; FP32 first, as every "vs FP32" figure refers to it. */
    static final List<Setting> SETTINGS = List.of(
            new Setting("fp32", "fp32", "fp32", "fp32"),
            new Setting("bf16", "bf16", "fp32", "fp32"),
            new Setting("fp16+dynamic", "fp16", "fp32", "fp32"),
            new Setting("fp8-delayed", "fp8", "fp32", "fp32"),
            new Setting("fp8-current", "fp8-current", "fp32", "fp32"),
            new Setting("mxfp8", "mxfp8", "fp32", "fp32"),
            new Setting("bf16+act-fp8", "bf16", "fp8", "fp32"),
            new Setting("fp32+state-int8", "fp32", "fp32", "int8"));

    @Override
    public Integer call() throws Exception {
        CommandLine cl = spec.commandLine();
        if (steps < 1 || benchSteps < 1 || benchWarmup < 0) {
            throw new CommandLine.ParameterException(cl, "--steps and --bench-steps must be >= 1 and --bench-warmup >= 0");
        }
        List<Setting> settings = selected(cl);
        ModelOptions bench = benchModel(cl);
        if (evalExamples != null && evalExamples < 1) throw new CommandLine.ParameterException(cl, "--eval-examples must be >= 1");
        if (chart != null) {
            try {
                MemoryReport.checkChartName(chart);
            } catch (IllegalArgumentException e) {
                throw new CommandLine.ParameterException(cl, e.getMessage().replace("--memory-chart", "--chart"));
            }
        }
        GptConfig c = bench.config(256, 0f);
        System.err.printf("compare-precision: %d settings; the addition task for %d steps each (one child JVM per run), then "
                + "the GPT benchmark model (L%d D%d H%d ctx%d, batch %d) for %d timed steps each%n", settings.size(), steps,
                c.layers(), c.dim(), c.heads(), c.context(), bench.batch, benchSteps);
        List<Map<String, Object>> rows = new ArrayList<>();
        Map<String, List<Double>> curves = new LinkedHashMap<>();
        for (Setting s : settings) {
            PrecisionTrainingRun.Outcome t = PrecisionTrainingRun.train(trainArgs(s));
            BenchCommand.Result b = bench(c, bench.batch, s);
            rows.add(row(s, t, b));
            curves.put(s.label(), t.losses());
            System.err.printf("%s: %s, bench %.1f ms/step%n", s.label(), t.json() == null ? "training failed" : String.format(
                    "held-out exact match %.1f%%, final loss %.4f", 100 * t.json().path("eval_accuracy").asDouble(Double.NaN),
                    t.json().path("final_loss").asDouble(Double.NaN)), b.stepMsMedian());
        }
        comparedWithFp32(rows);
        if (chart != null) dev.memwall.io.AtomicFiles.write(chart, PrecisionChart.draw(curves, rows, chart.getFileName().toString()));
        if (json) System.out.println(Json.line(rows));
        else printTable(rows);
        return 0;
    }

    private List<Setting> selected(CommandLine cl) {
        if (only == null) return SETTINGS;
        List<Setting> chosen = new ArrayList<>();
        for (String name : only) {
            Setting s = SETTINGS.stream().filter(x -> x.label().equalsIgnoreCase(name.trim())).findFirst().orElseThrow(() ->
                    new CommandLine.ParameterException(cl, "--settings " + name + ": expected one of " + String.join(", ",
                            SETTINGS.stream().map(Setting::label).toList())));
            if (!chosen.contains(s)) chosen.add(s);
        }
        return SETTINGS.stream().filter(chosen::contains).toList(); // FP32 first, as the comparisons refer to it
    }

    private ModelOptions benchModel(CommandLine cl) {
        ModelOptions m = new ModelOptions();
        if (layers != null) m.layers = layers;
        if (dim != null) m.dim = dim;
        if (heads != null) m.heads = heads;
        if (batch != null) m.batch = batch;
        if (ctx != null) m.ctx = ctx;
        m.validate(cl);
        return m;
    }

    /** The {@code train} arguments of one setting (the child adds --json and its memory report). */
    private List<String> trainArgs(Setting s) {
        List<String> a = new ArrayList<>(List.of("--precision", s.precision(), "--save-activations", s.saveActivations(),
                "--optimizer-state", s.optimizerState(), "--steps", Integer.toString(steps), "--seed", Long.toString(seed),
                "--eval-every", "0", "--no-progress"));
        Integer[] values = {layers, dim, heads, batch, evalExamples};
        String[] names = {"--layers", "--dim", "--heads", "--batch", "--eval-examples"};
        for (int i = 0; i < names.length; i++) if (values[i] != null) a.addAll(List.of(names[i], values[i].toString()));
        return a;
    }

    /** The benchmark model under one setting, in this JVM with a tracker of its own; no checkpointing. */
    private BenchCommand.Result bench(GptConfig c, int batchSize, Setting s) {
        MixedPrecision mixed = MixedPrecision.of(Precision.parse(s.precision()));
        StateFormat state = StateFormat.parse(s.optimizerState());
        try (var t = MemoryTracker.install(new MemoryTracker());
             var hooks = CompressedActivations.install(CompressedActivations.Format.parse(s.saveActivations()))) {
            Policy none = Policy.none(c.layers());
            return BenchCommand.run(c, batchSize, benchWarmup, benchSteps, seed, (gpt, b) -> {
                Checkpointing.install(gpt, none);
                return none;
            }, null, false,
                    BenchCommand.optimizerFactory(null, null, seed, state), OptimizerOptions.ADAMW, mixed);
        }
    }

    private static Map<String, Object> row(Setting s, PrecisionTrainingRun.Outcome t, BenchCommand.Result b) {
        JsonNode j = t.json();
        Map<String, Object> row = new LinkedHashMap<>();
        row.put("setting", s.label());
        row.put("precision", s.precision());
        row.put("save_activations", s.saveActivations());
        row.put("optimizer_state", s.optimizerState());
        row.put("eval_accuracy", number(j, "eval_accuracy"));
        row.put("final_loss", number(j, "final_loss"));
        row.put("peak_bytes", j == null ? null : Json.MAPPER.convertValue(j.path("peak_bytes"), Map.class));
        row.put("step_ms", number(j, "step_ms_median"));
        row.put("skipped_steps", j == null || !j.path("skipped_steps").isNumber() ? null : j.path("skipped_steps").asLong());
        row.put("loss_scale", number(j, "loss_scale"));
        row.put("bench_peak_bytes", Json.bytes(b.last().peakBytes(), b.last().peakTotalBytes()));
        row.put("bench_step_ms", BenchCommand.round(b.stepMsMedian()));
        if (t.error() != null) row.put("error", t.error());
        return row;
    }

    private static Double number(JsonNode j, String field) {
        return j == null || !j.path(field).isNumber() ? null : j.path(field).asDouble();
    }

    /** Accuracy in points and loss as a ratio against the FP32 row; the benchmark model's bytes as a ratio of FP32's. */
    @SuppressWarnings("unchecked")
    private static void comparedWithFp32(List<Map<String, Object>> rows) {
        Map<String, Object> fp32 = rows.stream().filter(r -> r.get("setting").equals("fp32")).findFirst().orElse(Map.of());
        Map<String, Long> fp32Bench = (Map<String, Long>) fp32.getOrDefault("bench_peak_bytes", Map.of());
        for (Map<String, Object> r : rows) {
            Double acc = (Double) r.get("eval_accuracy"), acc32 = (Double) fp32.get("eval_accuracy");
            r.put("eval_accuracy_vs_fp32_points", acc == null || acc32 == null ? null : BenchCommand.round(100 * (acc - acc32)));
            Double loss = (Double) r.get("final_loss"), loss32 = (Double) fp32.get("final_loss");
            r.put("final_loss_vs_fp32", loss == null || loss32 == null || loss32 == 0 ? null : BenchCommand.round(loss / loss32));
            Map<String, Long> pk = (Map<String, Long>) r.get("bench_peak_bytes");
            Map<String, Double> ratio = new LinkedHashMap<>();
            pk.forEach((cat, bytes) -> {
                Long base = fp32Bench.get(cat);
                if (base != null && base > 0) ratio.put(cat, Math.round(1000.0 * bytes / base) / 1000.0);
            });
            r.put("bench_peak_vs_fp32", ratio);
        }
    }

    @SuppressWarnings("unchecked")
    private static void printTable(List<Map<String, Object>> rows) {
        System.out.printf("%-16s %9s %9s %8s %8s %10s %9s | %9s %9s %9s %9s%n", "setting", "accuracy", "vs fp32", "loss",
                "skipped", "scale", "step ms", "act MiB", "state MiB", "total MiB", "step ms");
        for (Map<String, Object> r : rows) {
            Map<String, Long> pk = (Map<String, Long>) r.get("bench_peak_bytes");
            System.out.printf("%-16s %9s %9s %8s %8s %10s %9s | %9.2f %9.2f %9.2f %9.1f%n", r.get("setting"),
                    fmt(r.get("eval_accuracy"), 100, "%.1f%%"), fmt(r.get("eval_accuracy_vs_fp32_points"), 1, "%+.1f"),
                    fmt(r.get("final_loss"), 1, "%.4f"), r.get("skipped_steps") == null ? "—" : r.get("skipped_steps"),
                    fmt(r.get("loss_scale"), 1, "%.0f"), fmt(r.get("step_ms"), 1, "%.1f"), mib(pk.get("activation")),
                    mib(pk.get("optimizer_state")), mib(pk.get("total")), (double) r.get("bench_step_ms"));
        }
        System.out.println("left: the addition task (train); right: the GPT benchmark model's peak bytes and step time (bench)");
    }

    private static String fmt(Object v, double scale, String format) {
        return v == null ? "—" : String.format(format, ((Number) v).doubleValue() * scale);
    }

    static double mib(Long bytes) {
        return bytes == null ? 0 : bytes / 1048576.0;
    }
}
