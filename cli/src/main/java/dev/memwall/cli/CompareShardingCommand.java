package dev.memwall.cli;

import dev.memwall.nn.GptConfig;
import dev.memwall.sharding.launch.HeapSize;
import dev.memwall.train.ZeroStage;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.concurrent.Callable;

/**
 * Trains the GPT benchmark model at every ZeRO stage on N worker JVMs for each N asked for, and sets what each rank
 * measured (model state, peak, step time, bytes per step) beside the ZeRO formulas. The stages are those
 * {@link ZeroStage} has, so a new stage joins the comparison without a change here.
 */
@Command(name = "compare-sharding", mixinStandardHelpOptions = true,
        description = {"Model state, peak memory, step time and bytes per step of the GPT benchmark model at each ZeRO stage "
                + "on N worker JVMs, measured against the ZeRO formulas.",
                "Its default model (L6 D256 H4 ctx128, batch 16) is larger than train's; the first line printed names the model that runs."})
final class CompareShardingCommand implements Callable<Integer> {
    @Mixin
    ModelOptions model = new ModelOptions();
    @Option(names = "--nproc", split = ",", paramLabel = "N", defaultValue = "1,2,4",
            description = "worker counts to compare; each must divide --batch (default: ${DEFAULT-VALUE})")
    List<Integer> nproc;
    @Option(names = "--stages", split = ",", paramLabel = "S",
            description = "ZeRO stages to compare (default: every stage memwall has; the first line printed lists them)")
    List<Integer> stages;
    @Option(names = "--steps", description = "training steps per run; step time is each rank's median (default: ${DEFAULT-VALUE})")
    int steps = 5;
    @Option(names = "--seed", description = "seed (default: ${DEFAULT-VALUE})")
    long seed = 0;
    @Option(names = "--chart", description = "draw model state per rank (measured and formula) and bytes per step by stage and N (.png or .svg)")
    Path chart;
    @Option(names = "--real-memory", description = "also train under one per-worker heap limit (--heap): the single process "
            + "runs out of memory, a stage and N predicted to fit are advised, and that job trains")
    boolean realMemory;
    @Option(names = "--heap", paramLabel = "SIZE", description = "per-worker heap limit for --real-memory, like 96m (default: what "
            + "ZeRO-3 on the most workers is predicted to need, plus 5%, or the single process's measured peak if smaller)")
    String heap;
    @Option(names = "--backend", paramLabel = "NAME", description = "shm: workers started by memwall's launcher, shared memory; "
            + "mpi: started by Open MPI's mpirun, its transports and collectives (default: ${DEFAULT-VALUE})")
    String backend = "shm";
    @Option(names = "--json", description = "print one JSON object with a row per stage and N")
    boolean json;
    @Option(names = "--verbose", description = "stack traces on errors")
    boolean verbose;
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        List<ZeroStage> zs = stages();
        List<Integer> ns = worldSizes();
        Long heapBytes = heapBytes();
        checkChart();
        checkBackend();
        GptConfig c = model.config(256, 0f);
        ShardedTrainingRun runner = new ShardedTrainingRun(model, seed);
        try {
            long params = new dev.memwall.nn.Gpt(c, new dev.memwall.rng.Rng(seed)).parameterCount();
            System.err.println(ModelLine.of(c, params, String.format(", batch %d (global); ZeRO stages %s (all there are: %s) "
                    + "on %s worker JVM(s) (%s), %d steps each", model.batch, numbers(zs), numbers(List.of(ZeroStage.values())), ns,
                    backend.equals("mpi") ? "mpirun, Open MPI" : "shared memory", steps)));
            List<ShardedTrainingRun.Measured> rows = new ArrayList<>();
            for (ZeroStage s : zs) {
                for (int n : ns) {
                    ShardedTrainingRun.Outcome o = runner.run(s, n, steps, null, backend);
                    if (!o.trained()) {
                        System.err.print(o.log());
                        System.err.printf("memwall: stage %d on %d worker(s) failed: %s%n", s.number(), n, o.failure());
                        return 1;
                    }
                    rows.add(o.measured());
                    System.err.printf("stage %d, N=%d: %.1f ms/step, model state %s per rank%n", s.number(), n, o.measured().stepMs(),
                            mib(o.measured().modelStateBytes()));
                }
            }
            ShardingMemoryDemo.Result demo = realMemory ? ShardingMemoryDemo.run(runner, rows, heapBytes) : null;
            if (chart != null) dev.memwall.io.AtomicFiles.write(chart, ShardingChart.encode(rows, chart.getFileName().toString()));
            if (json) System.out.println(Json.line(toJson(c, params, zs, ns, rows, demo)));
            else print(rows, demo);
            if (demo != null && demo.failure() != null) {
                System.err.println("memwall: " + demo.failure());
                return 1;
            }
            return 0;
        } finally {
            runner.close();
        }
    }

    /** --backend is shm or mpi; mpi needs mpirun and the binding, and is not combined with --real-memory. */
    private void checkBackend() {
        CommandLine cl = spec.commandLine();
        if (!backend.equals("shm") && !backend.equals("mpi")) {
            throw new CommandLine.ParameterException(cl, "--backend " + backend + ": unknown backend; one of [shm, mpi]");
        }
        if (!backend.equals("mpi")) return;
        String missing = MpirunJob.unavailable();
        if (missing != null) throw new CommandLine.ParameterException(cl, "--backend mpi: " + missing);
        if (realMemory) throw new CommandLine.ParameterException(cl, "--real-memory runs on the shared-memory backend only; leave out --backend mpi");
    }

    private List<ZeroStage> stages() {
        if (stages == null || stages.isEmpty()) return List.of(ZeroStage.values());
        List<ZeroStage> out = new ArrayList<>();
        for (int s : new TreeSet<>(stages)) {
            try {
                out.add(ZeroStage.of(s));
            } catch (IllegalArgumentException e) {
                throw new CommandLine.ParameterException(spec.commandLine(), "--stages: " + e.getMessage());
            }
        }
        return out;
    }

    private List<Integer> worldSizes() {
        CommandLine cl = spec.commandLine();
        model.validate(cl);
        if (steps < 1) throw new CommandLine.ParameterException(cl, "--steps must be >= 1, got " + steps);
        List<Integer> out = new ArrayList<>(new TreeSet<>(nproc));
        for (int n : out) {
            if (n < 1) throw new CommandLine.ParameterException(cl, "--nproc: every worker count must be at least 1, got " + n);
            if (model.batch % n != 0) {
                throw new CommandLine.ParameterException(cl, "--nproc " + n + " does not divide --batch " + model.batch
                        + " (the global batch is split evenly over the workers); use worker counts that divide it");
            }
        }
        if (realMemory && (!out.contains(1) || out.size() < 2)) {
            throw new CommandLine.ParameterException(cl, "--real-memory compares the single process with sharded jobs: --nproc must "
                    + "include 1 and at least one larger count, got " + out);
        }
        return out;
    }

    private Long heapBytes() {
        if (heap == null) return null;
        if (!realMemory) throw new CommandLine.ParameterException(spec.commandLine(), "--heap needs --real-memory");
        try {
            return HeapSize.parse(heap);
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--heap: " + e.getMessage());
        }
    }

    private void checkChart() {
        if (chart == null) return;
        try {
            MemoryReport.checkChartName(chart);
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(spec.commandLine(), e.getMessage().replace("--memory-chart", "--chart"));
        }
    }

    static String numbers(List<ZeroStage> stages) {
        return String.join(", ", stages.stream().map(s -> Integer.toString(s.number())).toList());
    }

    /** The row of one (stage, N) with snake_case names; the README lists them. */
    static Map<String, Object> row(ShardedTrainingRun.Measured m) {
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("zero_stage", m.stage().number());
        r.put("world_size", m.n());
        r.put("params", m.params());
        r.put("model_state_bytes", m.modelStateBytes());
        r.put("model_state_bytes_formula", Math.round(m.modelStateFormula()));
        r.put("peak_total_bytes", m.peakTotalBytes());
        r.put("step_ms", m.stepMs());
        r.put("comm_bytes_sent_per_step", m.commBytesSent());
        r.put("comm_bytes_received_per_step", m.commBytesReceived());
        r.put("comm_bytes_per_step_formula", Math.round(m.commFormula()));
        r.put("comm_hidden_fraction", m.commHiddenFraction());
        return r;
    }

    private Map<String, Object> toJson(GptConfig c, long params, List<ZeroStage> zs, List<Integer> ns,
                                       List<ShardedTrainingRun.Measured> rows, ShardingMemoryDemo.Result demo) {
        Map<String, Object> cfg = new LinkedHashMap<>();
        cfg.put("vocab", c.vocab());
        cfg.put("ctx", c.context());
        cfg.put("dim", c.dim());
        cfg.put("heads", c.heads());
        cfg.put("layers", c.layers());
        cfg.put("batch", model.batch);
        cfg.put("params", params);
        cfg.put("steps", steps);
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("config", cfg);
        out.put("available_stages", Arrays.stream(ZeroStage.values()).map(ZeroStage::number).toList());
        out.put("stages", zs.stream().map(ZeroStage::number).toList());
        out.put("nproc", ns);
        out.put("backend", backend);
        out.put("rows", rows.stream().map(CompareShardingCommand::row).toList());
        if (demo != null) out.put("real_memory", demo.toJson());
        return out;
    }

    private static void print(List<ShardedTrainingRun.Measured> rows, ShardingMemoryDemo.Result demo) {
        System.out.printf("%5s %3s %12s %12s %12s %9s %12s %12s %12s %7s%n", "stage", "N", "state MiB", "formula", "peak MiB",
                "step ms", "sent MiB", "recv MiB", "formula", "hidden");
        for (ShardedTrainingRun.Measured m : rows) {
            System.out.printf("%5d %3d %12.2f %12.2f %12.2f %9.1f %12.2f %12.2f %12.2f %7s%n", m.stage().number(), m.n(),
                    m.modelStateBytes() / 1048576.0, m.modelStateFormula() / 1048576.0, m.peakTotalBytes() / 1048576.0, m.stepMs(),
                    m.commBytesSent() / 1048576.0, m.commBytesReceived() / 1048576.0, m.commFormula() / 1048576.0,
                    m.commHiddenFraction() == null ? "—" : String.format("%.0f%%", 100 * m.commHiddenFraction()));
        }
        System.out.println("per rank, the largest over ranks; bytes per step are ring-equivalent; hidden: share of communication "
                + "time hidden behind compute, — where the stage does not overlap (so does not report it)");
        if (demo != null) {
            System.out.println();
            demo.lines().forEach(System.out::println);
        }
    }

    static String mib(long bytes) {
        return String.format("%.2f MiB", bytes / 1048576.0);
    }
}
