package dev.memwall.cli;

import com.fasterxml.jackson.databind.JsonNode;
import dev.memwall.kernels.Gemm;
import dev.memwall.kernels.Vectorization;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.style.markers.SeriesMarkers;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * Learning-rate robustness: trains the default addition task once per (optimizer, learning rate), each run in a child
 * JVM ({@code train --json}, so every run starts from the same state of the machine's caches and JIT), and reports the
 * held-out exact match of each and the range of rates over which each optimizer reaches {@code --threshold}.
 */
@Command(name = "sweep", mixinStandardHelpOptions = true, description = {"Held-out accuracy of the addition task per "
        + "(optimizer, learning rate): how robust each optimizer is to its rate.",
        "Each run is `train` in a child JVM with train's defaults unless given here."})
final class SweepCommand implements Callable<Integer> {
    @Option(names = "--optimizer", split = ",", paramLabel = "LIST", description = "optimizers (default: adamw,adahessian)")
    List<String> optimizers = List.of("adamw", "adahessian");
    @Option(names = "--lr", split = ",", paramLabel = "LIST", description = "peak learning rates (default: 1e-4,1e-3,1e-2,1e-1,1)")
    List<Double> lrs = List.of(1e-4, 1e-3, 1e-2, 1e-1, 1.0);
    @Option(names = "--steps", description = "training steps per run (default: ${DEFAULT-VALUE}, train's)")
    int steps = 1500;
    @Option(names = "--seed", description = "seed of every run (default: ${DEFAULT-VALUE})")
    long seed = 0;
    @Option(names = "--threshold", description = "held-out exact match a rate must reach to count (default: ${DEFAULT-VALUE})")
    double threshold = 0.9;
    @Option(names = "--update-each", description = "AdaHessian's --update-each in its runs (default: ${DEFAULT-VALUE})")
    int updateEach = 1;
    @Option(names = "--layers", description = "Transformer blocks (default: train's)")
    Integer layers;
    @Option(names = "--dim", description = "model width (default: train's)")
    Integer dim;
    @Option(names = "--heads", description = "attention heads (default: train's)")
    Integer heads;
    @Option(names = "--batch", description = "sequences per step (default: train's)")
    Integer batch;
    @Option(names = "--eval-examples", description = "held-out examples per evaluation (default: train's)")
    Integer evalExamples;
    @Option(names = "--chart", description = "draw accuracy against learning rate per optimizer (.png or .svg)")
    Path chart;
    @Option(names = "--json", description = "print one JSON object")
    boolean json;
    @Option(names = "--verbose", description = "stack traces on errors")
    boolean verbose;
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        CommandLine cl = spec.commandLine();
        List<String> names = new ArrayList<>();
        for (String o : optimizers) {
            String n = o.trim().toLowerCase(Locale.ROOT);
            if (!List.of("adamw", "sgd", "adahessian").contains(n)) {
                throw new CommandLine.ParameterException(cl, "--optimizer " + o + ": expected adamw, sgd or adahessian");
            }
            names.add(n);
        }
        for (double lr : lrs) if (!(lr > 0)) throw new CommandLine.ParameterException(cl, "--lr values must be > 0, got " + lr);
        if (steps < 1 || updateEach < 1) throw new CommandLine.ParameterException(cl, "--steps and --update-each must be >= 1");
        if (chart != null) {
            try {
                MemoryReport.checkChartName(chart);
            } catch (IllegalArgumentException e) {
                throw new CommandLine.ParameterException(cl, e.getMessage().replace("--memory-chart", "--chart"));
            }
        }
        System.err.printf("sweep: %s × lr %s, %d steps each, one child JVM per run%n", names, lrs, steps);
        List<Map<String, Object>> runs = new ArrayList<>();
        Map<String, Object> ranges = new LinkedHashMap<>();
        for (String name : names) {
            List<Double> passing = new ArrayList<>();
            for (double lr : lrs) {
                JsonNode j = train(name, lr);
                Map<String, Object> run = new LinkedHashMap<>();
                run.put("optimizer", name);
                run.put("lr", lr);
                double acc = j == null || j.path("eval_accuracy").isNull() ? Double.NaN : j.path("eval_accuracy").asDouble();
                run.put("eval_accuracy", Double.isNaN(acc) ? null : acc);
                run.put("eval_loss", j == null || !j.path("eval_loss").isNumber() ? null : j.path("eval_loss").asDouble());
                run.put("train_seconds", j == null ? null : j.path("train_seconds").asDouble());
                runs.add(run);
                if (acc >= threshold) passing.add(lr);
                System.err.printf("%s lr %g: held-out exact match %s%n", name, lr, Double.isNaN(acc) ? "— (failed)" : String.format("%.1f%%", 100 * acc));
            }
            Map<String, Object> range = new LinkedHashMap<>();
            range.put("min_lr", passing.isEmpty() ? null : passing.stream().min(Double::compare).get());
            range.put("max_lr", passing.isEmpty() ? null : passing.stream().max(Double::compare).get());
            range.put("passing", passing.size());
            ranges.put(name, range);
        }
        if (chart != null) dev.memwall.io.AtomicFiles.write(chart, chart(names, runs, chart.getFileName().toString()));
        if (json) {
            Map<String, Object> out = new LinkedHashMap<>();
            out.put("steps", steps);
            out.put("threshold", threshold);
            out.put("runs", runs);
            out.put("ranges", ranges);
            System.out.println(Json.line(out));
        } else {
            System.out.printf("%-12s %10s %10s%n", "optimizer", "lr", "accuracy");
            for (Map<String, Object> r : runs) {
                Object acc = r.get("eval_accuracy");
                System.out.printf("%-12s %10g %10s%n", r.get("optimizer"), (double) r.get("lr"), acc == null ? "failed"
                        : String.format("%.1f%%", 100 * (double) acc));
            }
            ranges.forEach((n, r) -> System.out.printf("%s reaches %.0f%% at %s of %d rates%s%n", n, 100 * threshold,
                    ((Map<?, ?>) r).get("passing"), lrs.size(), ((Map<?, ?>) r).get("min_lr") == null ? ""
                            : String.format(" (lr %s to %s)", ((Map<?, ?>) r).get("min_lr"), ((Map<?, ?>) r).get("max_lr"))));
        }
        return 0;
    }

    /** One {@code train --json} in a child JVM; null when it failed (a diverged run still reports its accuracy). */
    private JsonNode train(String optimizer, double lr) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx" + Math.max(256, Runtime.getRuntime().maxMemory() >> 20) + "m", "-XX:+UseParallelGC"));
        cmd.addAll(Vectorization.childJvmOptions());
        String gemm = System.getProperty(Gemm.PROPERTY);
        if (gemm != null) cmd.add("-D" + Gemm.PROPERTY + "=" + gemm);
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), Main.class.getName(), "train", "--optimizer", optimizer,
                "--lr", Double.toString(lr), "--steps", Integer.toString(steps), "--seed", Long.toString(seed), "--eval-every", "0",
                "--no-progress", "--json"));
        if (optimizer.equals("adahessian") && updateEach > 1) cmd.addAll(List.of("--update-each", Integer.toString(updateEach)));
        String[][] shape = {{"--layers", str(layers)}, {"--dim", str(dim)}, {"--heads", str(heads)}, {"--batch", str(batch)},
                {"--eval-examples", str(evalExamples)}};
        for (String[] o : shape) if (o[1] != null) cmd.addAll(List.of(o[0], o[1]));
        Path out = Files.createTempFile("memwall-sweep", ".out"), err = Files.createTempFile("memwall-sweep", ".err");
        try {
            Process p = new ProcessBuilder(cmd).redirectOutput(out.toFile()).redirectError(err.toFile()).start();
            int code = p.waitFor();
            List<String> lines = Files.readAllLines(out, StandardCharsets.UTF_8);
            if (code != 0 || lines.isEmpty()) {
                List<String> e = Files.readAllLines(err, StandardCharsets.UTF_8);
                System.err.printf("%s lr %g: exit %d%s%n", optimizer, lr, code, e.isEmpty() ? "" : ": " + e.get(e.size() - 1));
                return null;
            }
            return Json.MAPPER.readTree(lines.get(lines.size() - 1));
        } finally {
            Files.deleteIfExists(out);
            Files.deleteIfExists(err);
        }
    }

    private static String str(Integer v) {
        return v == null ? null : v.toString();
    }

    private static byte[] chart(List<String> names, List<Map<String, Object>> runs, String fileName) throws java.io.IOException {
        XYChart ch = new XYChartBuilder().width(800).height(480).title("Held-out exact match against learning rate")
                .xAxisTitle("peak learning rate").yAxisTitle("held-out exact match").build();
        ch.getStyler().setXAxisLogarithmic(true);
        ch.getStyler().setChartBackgroundColor(java.awt.Color.WHITE);
        ch.getStyler().setYAxisMin(0.0);
        ch.getStyler().setYAxisMax(1.0);
        for (String n : names) {
            List<Double> x = new ArrayList<>(), y = new ArrayList<>();
            for (Map<String, Object> r : runs) {
                if (!r.get("optimizer").equals(n)) continue;
                x.add((double) r.get("lr"));
                y.add(r.get("eval_accuracy") == null ? 0.0 : (double) r.get("eval_accuracy"));
            }
            ch.addSeries(n, x, y).setMarker(SeriesMarkers.CIRCLE);
        }
        return Charts.encode(ch, fileName);
    }
}
