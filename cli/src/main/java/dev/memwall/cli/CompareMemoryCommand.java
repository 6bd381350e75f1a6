package dev.memwall.cli;

import dev.memwall.autograd.CompressedActivations;
import dev.memwall.autograd.Scope;
import dev.memwall.autograd.Tensor;
import dev.memwall.checkpoint.Planner;
import dev.memwall.checkpoint.Policy;
import dev.memwall.checkpoint.Profiler;
import dev.memwall.kernels.Gemm;
import dev.memwall.memory.Category;
import dev.memwall.memory.MemoryTracker;
import dev.memwall.nn.Gpt;
import dev.memwall.nn.GptConfig;
import dev.memwall.rng.Rng;
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
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * Trains the GPT benchmark model under each checkpointing policy and compares peak memory and step time: the
 * trade of recomputation for activation memory, measured.
 */
@Command(name = "compare-memory", mixinStandardHelpOptions = true,
        description = {"Peak memory and step time of the GPT benchmark model under each checkpointing policy.",
                "Its default model (L6 D256 H4 ctx128, batch 16) is larger than train's; the first line printed names the model that runs."})
final class CompareMemoryCommand implements Callable<Integer> {
    private static final int DEMO_STEPS = 2;
    /** Steps per policy before anything is timed: C2 compiles the kernels of a GPT step over its first few steps. */
    private static final int JIT_WARMUP_STEPS = 3;

    @Mixin
    ModelOptions model = new ModelOptions();
    @Option(names = "--budget", description = "budget for BUDGET: peak total bytes of a step, as 200000000 or 200MiB "
            + "(default: halfway between the EVERY_LAYER and NONE peaks)")
    String budget;
    @Option(names = "--warmup", description = "untimed steps per policy and round (default: ${DEFAULT-VALUE})")
    int warmup = 1;
    @Option(names = "--steps", description = "timed steps per policy and round (default: ${DEFAULT-VALUE})")
    int steps = 2;
    @Option(names = "--rounds", description = "rounds over all policies; a policy's step time is the median of its timed "
            + "steps in all rounds (default: ${DEFAULT-VALUE})")
    int rounds = 4;
    @Option(names = "--seed", description = "seed (default: ${DEFAULT-VALUE})")
    long seed = 0;
    @Option(names = "--chart", description = "draw peak memory per policy with the overhead beside it (.png or .svg)")
    Path chart;
    @Option(names = "--real-memory", description = "also train NONE, EVERY_LAYER and BUDGET in child JVMs under one fixed heap "
            + "limit (-Xmx) chosen from the budget: NONE runs out of memory, the others fit")
    boolean realMemory;
    @Option(names = "--heap", description = "heap limit for --real-memory, as 300000000 or 280MiB (default: NONE's peak "
            + "total, which NONE's tracked arrays alone fill)")
    String heap;
    @Option(names = "--save-activations", paramLabel = "FORMAT", description = "keep saved activations as fp32, bf16 or fp8 "
            + "in every run (and in the planner's profile) (default: ${DEFAULT-VALUE})")
    String saveActivations = "fp32";
    /** Bytes per element of the saved activations against FP32's, for the planner. */
    private double ratio = 1;
    @Option(names = "--json", description = "print one JSON array of rows")
    boolean json;
    @Option(names = "--verbose", description = "stack traces on errors")
    boolean verbose;
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        CompressedActivations.Format saved;
        try {
            saved = CompressedActivations.Format.parse(saveActivations);
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--save-activations: " + e.getMessage());
        }
        if (saved != CompressedActivations.Format.FP32 && realMemory) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--real-memory runs with FP32 saved activations only");
        }
        ratio = saved.ratio();
        try (var hooks = CompressedActivations.install(saved)) { // every run and the profile below, on this thread
            return compare();
        }
    }

    private Integer compare() throws Exception {
        model.validate(spec.commandLine());
        if (warmup < 0 || steps < 1 || rounds < 1) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--steps and --rounds must be >= 1 and --warmup >= 0");
        }
        Long budgetBytes = size("--budget", budget), heapBytes = size("--heap", heap);
        if (heapBytes != null && !realMemory) throw new CommandLine.ParameterException(spec.commandLine(), "--heap needs --real-memory");
        if (chart != null) {
            try {
                MemoryReport.checkChartName(chart);
            } catch (IllegalArgumentException e) {
                throw new CommandLine.ParameterException(spec.commandLine(), e.getMessage().replace("--memory-chart", "--chart"));
            }
        }
        GptConfig c = model.config(256, 0f);
        Planner.Profile profile = profile(c);
        if (budgetBytes != null) { // an infeasible budget is a bad argument: say so before minutes of measuring
            try {
                Planner.plan(profile, budgetBytes, ratio);
            } catch (IllegalArgumentException e) {
                throw new CommandLine.ParameterException(spec.commandLine(), "--budget: " + e.getMessage());
            }
        }
        int layers = c.layers();
        List<Policy> policies = new ArrayList<>(List.of(Policy.none(layers), Policy.everyLayer(layers), Policy.sqrt(layers),
                Policy.selective(layers)));
        int named = policies.size(); // BUDGET joins once NONE's and EVERY_LAYER's peaks are known
        // Every code path is compiled before anything is timed, so that the first policy measured is not the one that
        // pays for the JIT's warm-up.
        if (warmup > 0) {
            for (Policy p : policies) {
                try (var t = MemoryTracker.install(new MemoryTracker())) {
                    BenchCommand.run(c, model.batch, 0, JIT_WARMUP_STEPS, seed, p, null);
                }
            }
        }
        // Policies take turns, round after round: a slow spell of this noisy machine then falls on all of them instead
        // of on whichever policy it happened to meet.
        List<List<Double>> times = new ArrayList<>();
        List<BenchCommand.Result> results = new ArrayList<>();
        Planner.Plan plan = null;
        long b = 0;
        for (int round = 0; round < rounds; round++) {
            for (int i = 0; i < policies.size(); i++) {
                BenchCommand.Result r;
                try (var t = MemoryTracker.install(new MemoryTracker())) {
                    r = BenchCommand.run(c, model.batch, warmup, steps, seed, policies.get(i), null);
                }
                if (round == 0) {
                    times.add(new ArrayList<>());
                    results.add(r);
                }
                for (double ms : r.stepMs()) times.get(i).add(ms);
                System.err.printf("round %d/%d %s: %.1f ms/step%n", round + 1, rounds, policies.get(i).name(), r.stepMsMedian());
                if (plan == null && i == named - 1) { // the budget sits between the NONE and EVERY_LAYER peaks measured
                    long nonePeak = results.get(0).last().peakTotalBytes(), everyPeak = results.get(1).last().peakTotalBytes();
                    // Halfway between the two measured peaks; on a tiny model the planner's bound (activation peak plus
                    // the largest non-activation figure) can sit above that, so never below the least budget it accepts.
                    b = budgetBytes != null ? budgetBytes : Math.max((nonePeak + everyPeak) / 2, Planner.minimumFeasible(profile, ratio));
                    plan = Planner.plan(profile, b, ratio);
                    System.err.println("plan: " + plan.describe());
                    policies.add(plan.policy());
                }
            }
        }
        List<Map<String, Object>> rows = new ArrayList<>();
        for (int i = 0; i < policies.size(); i++) {
            double[] all = times.get(i).stream().mapToDouble(Double::doubleValue).toArray();
            rows.add(row(policies.get(i), results.get(i), BenchCommand.median(all), profile, i == policies.size() - 1 ? b : null));
        }
        double baseMs = (double) rows.get(0).get("step_ms");
        for (Map<String, Object> row : rows) {
            row.put("overhead", BenchCommand.round((double) row.get("step_ms") / baseMs - 1));
            row.put("predicted_overhead", BenchCommand.round((double) row.remove("recompute_ms") / baseMs));
        }
        String failure = null;
        if (realMemory) {
            // The child's heap holds the tracked arrays; GEMM's workspace is native memory outside it on the staging
            // path (the child takes the same path: same build, same -Dmemwall.gemm).
            long nonePeak = (long) rows.get(0).get("peak_total_bytes")
                    - (Gemm.workspaceOffHeap() ? (long) rows.get(0).get("peak_workspace_bytes") : 0);
            long limit = heapBytes != null ? heapBytes : demoHeap(nonePeak);
            failure = demonstrate(rows, b, limit);
        }
        if (chart != null) dev.memwall.io.AtomicFiles.write(chart, chart(rows, chart.getFileName().toString()));
        if (json) {
            System.out.println(Json.line(rows));
        } else {
            System.out.printf("%-12s %12s %12s %12s %12s %9s %9s %10s%n", "policy", "act MiB", "predicted", "total MiB",
                    "bound", "step ms", "overhead", "predicted");
            for (Map<String, Object> r : rows) {
                String name = (String) r.get("policy");
                System.out.printf("%-12s %12.1f %12.1f %12.1f %12.1f %9.1f %8.0f%% %9.0f%%%n", name.startsWith("BUDGET") ? "BUDGET" : name,
                        mib(r.get("peak_activation_bytes")), mib(r.get("predicted_activation_bytes")), mib(r.get("peak_total_bytes")),
                        mib(r.get("predicted_peak_bytes")), (double) r.get("step_ms"), 100 * (double) r.get("overhead"),
                        100 * (double) r.get("predicted_overhead"));
            }
            System.out.printf("BUDGET: %,d bytes; %s%n", b, plan.policy().describe());
            if (realMemory) printDemonstration(rows);
        }
        if (failure != null) {
            System.err.println("memwall: " + failure);
            return 1;
        }
        return 0;
    }

    /**
     * The heap limit of the demonstration: NONE's measured peak total, in whole MiB rounded down. NONE's tracked arrays
     * alone fill it, so without checkpointing the step cannot fit, whatever the JVM needs besides; a plan for the
     * budget, halfway down to EVERY_LAYER's peak, leaves the JVM the rest. (A limit closer to the budget, the budget
     * plus a quarter, left the JVM too little on small models: with the parallel collector the usable heap is also
     * smaller than -Xmx by a survivor space.)
     */
    static long demoHeap(long nonePeak) {
        return nonePeak >> 20 << 20;
    }

    private Long size(String option, String text) {
        if (text == null) return null;
        try {
            return Policy.parseBytes(text);
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(spec.commandLine(), option + " must be a positive size in bytes (or with K/M/G, "
                    + "KiB/MiB/GiB), got '" + text + "'");
        }
    }

    /**
     * Trains NONE, EVERY_LAYER and BUDGET in child JVMs under {@code limit} bytes of heap and adds the outcomes to
     * their rows. Returns why the demonstration did not come out as it should (NONE fails, the others train), or null.
     */
    private String demonstrate(List<Map<String, Object>> rows, long budgetBytes, long limit) throws Exception {
        System.err.printf("real memory: %d training steps per policy in a child JVM with -Xmx%dm%n", DEMO_STEPS, (limit + (1 << 20) - 1) >> 20);
        String[] checkpoints = {"NONE", "EVERY_LAYER", "BUDGET(" + budgetBytes + ")"};
        int[] rowOf = {0, 1, rows.size() - 1};
        List<String> wrong = new ArrayList<>();
        for (int k = 0; k < checkpoints.length; k++) {
            RealMemoryDemo.Outcome o = RealMemoryDemo.run(model, seed, checkpoints[k], limit, DEMO_STEPS);
            Map<String, Object> row = rows.get(rowOf[k]);
            row.put("heap_limit_bytes", o.heapLimit());
            row.put("child_exit_code", o.exitCode());
            row.put("child_trained", o.trained());
            row.put("child_peak_total_bytes", o.peakTotalBytes());
            row.put("child_jvm_heap_peak_bytes", o.jvmHeapPeakBytes());
            row.put("child_message", o.message());
            if (o.plan() != null) row.put("child_plan", o.plan());
            System.err.printf("%s: %s%n", checkpoints[k], o.trained() ? "trained" : o.message());
            boolean expected = k == 0 ? !o.trained() && o.message().contains("out of memory") : o.trained();
            if (!expected) wrong.add(checkpoints[k] + (k == 0 ? " did not run out of memory" : " did not train: " + o.message()));
        }
        return wrong.isEmpty() ? null : "the real-memory demonstration did not come out as expected under -Xmx"
                + (limit >> 20) + "m: " + String.join("; ", wrong);
    }

    private static void printDemonstration(List<Map<String, Object>> rows) {
        System.out.println();
        for (Map<String, Object> r : rows) {
            if (!r.containsKey("child_exit_code")) continue;
            String name = (String) r.get("policy");
            if (Boolean.TRUE.equals(r.get("child_trained"))) {
                System.out.printf("%-12s -Xmx%dm: trained %d steps; peak %.1f MiB tracked, JVM heap peak %.1f MiB%n",
                        name.startsWith("BUDGET") ? "BUDGET" : name, (long) r.get("heap_limit_bytes") >> 20, DEMO_STEPS,
                        mib(r.get("child_peak_total_bytes")), mib(r.get("child_jvm_heap_peak_bytes")));
            } else {
                System.out.printf("%-12s -Xmx%dm: exit %d, %s%n", name.startsWith("BUDGET") ? "BUDGET" : name,
                        (long) r.get("heap_limit_bytes") >> 20, (int) r.get("child_exit_code"), r.get("child_message"));
            }
        }
    }

    private static double mib(Object bytes) {
        return ((Number) bytes).longValue() / 1048576.0;
    }

    /** The planner's profile of the benchmark model on the benchmark batch, with AdamW's state counted in. */
    private Planner.Profile profile(GptConfig c) {
        try (var t = MemoryTracker.install(new MemoryTracker()); Scope s = Scope.open()) {
            Gpt gpt = new Gpt(c, new Rng(seed));
            System.err.println(ModelLine.of(c, gpt.parameterCount(), String.format(", batch %d; each checkpointing policy, %d rounds",
                    model.batch, rounds)));
            Tensor[] batch = batch(c);
            return Profiler.profile(gpt, batch[0], batch[1], CheckpointOption.adamStateBytes(gpt));
        }
    }

    private Tensor[] batch(GptConfig c) {
        Rng data = new Rng(seed + 1);
        int n = model.batch * c.context();
        int[] ids = new int[n], targets = new int[n];
        for (int i = 0; i < n; i++) {
            ids[i] = data.nextInt(c.vocab());
            targets[i] = data.nextInt(c.vocab());
        }
        return new Tensor[]{Tensor.ints(ids, model.batch, c.context()), Tensor.ints(targets, model.batch, c.context())};
    }

    private Map<String, Object> row(Policy p, BenchCommand.Result r, double stepMs, Planner.Profile profile, Long budgetBytes) {
        Map<String, Object> row = new LinkedHashMap<>();
        row.put("policy", p.name());
        row.put("peak_activation_bytes", r.last().peakBytes().get(Category.ACTIVATION));
        row.put("peak_total_bytes", r.last().peakTotalBytes());
        row.put("peak_workspace_bytes", r.last().peakBytes().get(Category.WORKSPACE));
        row.put("step_ms", BenchCommand.round(stepMs));
        row.put("predicted_activation_bytes", Planner.predictPeak(profile, p, ratio));
        row.put("predicted_peak_bytes", Planner.predictTotal(profile, p, ratio));
        row.put("save_activations", saveActivations.toLowerCase(java.util.Locale.ROOT));
        row.put("recompute_ms", Planner.recomputeTime(profile, p));
        if (budgetBytes != null) {
            row.put("budget_bytes", budgetBytes);
            row.put("plan", p.describe());
        }
        return row;
    }

    private static byte[] chart(List<Map<String, Object>> rows, String fileName) throws java.io.IOException {
        CategoryChart ch = new CategoryChartBuilder().width(900).height(500)
                .title("Peak memory and step-time overhead by checkpointing policy").xAxisTitle("policy").yAxisTitle("MiB / % overhead").build();
        ch.getStyler().setChartBackgroundColor(java.awt.Color.WHITE);
        List<String> names = new ArrayList<>();
        List<Double> act = new ArrayList<>(), total = new ArrayList<>(), over = new ArrayList<>();
        for (Map<String, Object> r : rows) {
            String n = (String) r.get("policy");
            names.add(n.startsWith("BUDGET") ? "BUDGET" : n);
            act.add(mib(r.get("peak_activation_bytes")));
            total.add(mib(r.get("peak_total_bytes")));
            over.add(100 * (double) r.get("overhead"));
        }
        ch.addSeries("peak activations (MiB)", names, act);
        ch.addSeries("peak total (MiB)", names, total);
        ch.addSeries("step-time overhead vs NONE (%)", names, over);
        return Charts.encode(ch, fileName);
    }
}
