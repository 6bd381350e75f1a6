package dev.memwall.bench;

import org.apache.commons.math3.stat.descriptive.DescriptiveStatistics;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Turns JMH results of this module's benchmarks into the figures JMH cannot compute: GFLOP/s per GEMM shape with the
 * memwall/openblas ratio, and GB/s per kernel with its fraction of the copy roof.
 *
 * <pre>java -cp bench/target/benchmarks.jar dev.memwall.bench.Report gemm.json kernels.csv</pre>
 *
 * JSON results ({@code -rf json}) are reported by the median of their iterations with the range beside it, which a
 * noisy two-core machine needs (one slow iteration moves a mean by tens of percent); CSV results ({@code -rf csv})
 * only carry JMH's mean and its 99.9% error. Only average-time rows are used; other modes are skipped with a note.
 */
public final class Report {
    private Report() {
    }

    /**
     * One result: benchmark method (class.method), µs per call (the median of the iterations when they are known,
     * else JMH's mean), the spread shown beside it, and the parameters.
     */
    record Row(String benchmark, double micros, String spread, Map<String, String> params) {
        String method() {
            return benchmark.substring(benchmark.lastIndexOf('.') + 1);
        }

        boolean in(Class<?> c) {
            return benchmark.startsWith(c.getName() + ".");
        }
    }

    public static void main(String[] args) throws IOException {
        if (args.length == 0) {
            System.err.println("usage: Report RESULT.csv... (JMH -rf csv output)");
            System.exit(2);
        }
        List<Row> rows = new ArrayList<>();
        for (String a : args) rows.addAll(a.endsWith(".json") ? readJson(Path.of(a)) : read(Path.of(a)));
        gemm(rows);
        kernels(rows);
        bodies(rows);
    }

    /** GFLOP/s = 2·batch·M·N·K / (µs · 1e3); ratio = memwall GFLOP/s / openblas GFLOP/s (above 1: memwall faster). */
    static void gemm(List<Row> rows) {
        Map<String, Row[]> byShape = new LinkedHashMap<>();
        for (Row r : rows) {
            if (!r.in(GemmBenchmark.class)) continue;
            Row[] pair = byShape.computeIfAbsent(r.params().get("shape"), k -> new Row[2]);
            pair[r.method().equals("memwall") ? 0 : 1] = r;
        }
        if (byShape.isEmpty()) return;
        System.out.printf(Locale.ROOT, "%-20s %24s %9s %24s %9s %9s%n",
                "GEMM shape", "memwall µs", "GFLOP/s", "openblas µs", "GFLOP/s", "mw/oblas");
        for (Map.Entry<String, Row[]> e : byShape.entrySet()) {
            double flops = GemmBenchmark.flops(e.getKey());
            Row mw = e.getValue()[0], ob = e.getValue()[1];
            double gm = mw == null ? Double.NaN : flops / (mw.micros() * 1e3);
            double go = ob == null ? Double.NaN : flops / (ob.micros() * 1e3);
            System.out.printf(Locale.ROOT, "%-20s %24s %9.1f %24s %9.1f %9.2f%n", e.getKey(),
                    time(mw), gm, time(ob), go, gm / go);
        }
        System.out.println();
    }

    /** GB/s = bytes / (µs · 1e3); "% roof" = kernel GB/s over the parallel copy's GB/s at the same volume. */
    static void kernels(List<Row> rows) {
        Map<String, Row> kernel = new LinkedHashMap<>(), roof = new LinkedHashMap<>(), roof1 = new LinkedHashMap<>();
        for (Row r : rows) {
            if (r.in(KernelBenchmark.class)) kernel.put(r.method(), r);
            if (r.in(KernelRoofBenchmark.class) && !r.method().equals("triad")) {
                (r.method().equals("arraycopyParallel") ? roof : roof1).put(r.params().get("kernel"), r);
            }
        }
        if (kernel.isEmpty() && roof.isEmpty() && roof1.isEmpty()) return;
        System.out.printf(Locale.ROOT, "%-22s %8s %12s %8s %14s %14s %7s%n",
                "kernel", "MB/call", "µs", "GB/s", "copy 1T GB/s", "copy nT GB/s", "% roof");
        for (String k : KernelBenchmark.KERNELS) {
            Row r = kernel.get(k);
            if (r == null && !roof.containsKey(k) && !roof1.containsKey(k)) continue; // not in these results
            long bytes = KernelBenchmark.bytes(k);
            double gb = r == null ? Double.NaN : KernelBenchmark.gbPerSecond(bytes, r.micros());
            double g1 = gbs(roof1.get(k), k), gn = gbs(roof.get(k), k);
            System.out.printf(Locale.ROOT, "%-22s %8.1f %12s %8.1f %14.1f %14.1f %6.0f%%%n",
                    k, bytes / 1e6, time(r), gb, g1, gn, 100 * gb / gn);
        }
        System.out.println();
    }

    /**
     * Scalar against Vector API bodies on one thread ({@link VectorKernelBenchmark}): GB/s of each, the speed-up, and
     * the vector body's fraction of the one-thread triad at the same byte volume ({@link KernelRoofBenchmark#triad}).
     */
    static void bodies(List<Row> rows) {
        Map<String, Row> scalar = new LinkedHashMap<>(), vector = new LinkedHashMap<>(), triad = new LinkedHashMap<>();
        for (Row r : rows) {
            if (r.in(VectorKernelBenchmark.class)) (r.params().get("impl").equals("vector") ? vector : scalar).put(r.method(), r);
            if (r.in(KernelRoofBenchmark.class) && r.method().equals("triad")) triad.put(r.params().get("kernel"), r);
        }
        if (scalar.isEmpty() && vector.isEmpty()) return;
        System.out.printf(Locale.ROOT, "%-22s %8s %18s %7s %18s %7s %8s %11s %7s%n", "kernel body (1 thread)",
                "MB/call", "scalar µs", "GB/s", "vector µs", "GB/s", "speed-up", "triad GB/s", "% roof");
        for (String k : KernelBenchmark.KERNELS) {
            Row s = scalar.get(k), v = vector.get(k), t = triad.get(k);
            if (s == null && v == null) continue;
            long bytes = KernelBenchmark.bytes(k);
            double gs = s == null ? Double.NaN : KernelBenchmark.gbPerSecond(bytes, s.micros());
            double gv = v == null ? Double.NaN : KernelBenchmark.gbPerSecond(bytes, v.micros());
            double gt = t == null ? Double.NaN : KernelBenchmark.gbPerSecond(KernelRoofBenchmark.triadBytes(k), t.micros());
            System.out.printf(Locale.ROOT, "%-22s %8.1f %18s %7.1f %18s %7.1f %7.2f× %11.1f %6.0f%%%n",
                    k, bytes / 1e6, time(s), gs, time(v), gv, gv / gs, gt, 100 * gv / gt);
        }
        System.out.println();
    }

    private static double gbs(Row roofRow, String kernel) {
        return roofRow == null ? Double.NaN : KernelBenchmark.gbPerSecond(KernelRoofBenchmark.bytes(kernel), roofRow.micros());
    }

    private static String time(Row r) {
        if (r == null) return "-";
        return String.format(Locale.ROOT, "%.1f", r.micros()) + r.spread();
    }

    /** Reads a JMH JSON result: per benchmark and parameters, the median and range of all measured iterations. */
    static List<Row> readJson(Path file) throws IOException {
        com.fasterxml.jackson.databind.JsonNode root = new com.fasterxml.jackson.databind.ObjectMapper().readTree(file.toFile());
        if (root == null || !root.isArray()) throw new IOException(file + ": not a JMH JSON result (expected an array)");
        List<Row> out = new ArrayList<>();
        for (com.fasterxml.jackson.databind.JsonNode b : root) {
            String name = b.path("benchmark").asText();
            if (!b.path("mode").asText().equals("avgt")) {
                System.err.println("skipped (mode " + b.path("mode").asText() + ", only avgt is converted): " + name);
                continue;
            }
            com.fasterxml.jackson.databind.JsonNode metric = b.path("primaryMetric");
            double scale = toMicros(metric.path("scoreUnit").asText());
            DescriptiveStatistics values = new DescriptiveStatistics();
            for (com.fasterxml.jackson.databind.JsonNode fork : metric.path("rawData")) for (com.fasterxml.jackson.databind.JsonNode v : fork) values.addValue(v.asDouble() * scale);
            if (values.getN() == 0) throw new IOException(file + ": " + name + " has no iterations");
            double median = values.getPercentile(50);
            String spread = String.format(Locale.ROOT, " [%.0f–%.0f]", values.getMin(), values.getMax());
            Map<String, String> params = new LinkedHashMap<>();
            b.path("params").fields().forEachRemaining(e -> params.put(e.getKey(), e.getValue().asText()));
            out.add(new Row(name, median, spread, params));
        }
        return out;
    }

    /** Reads a JMH CSV file; the header names the columns, parameter columns are "Param: name". */
    static List<Row> read(Path file) throws IOException {
        List<String> lines = Files.readAllLines(file);
        List<Row> out = new ArrayList<>();
        if (lines.isEmpty()) return out;
        List<String> header = split(lines.get(0));
        int bench = header.indexOf("Benchmark"), mode = header.indexOf("Mode"), score = header.indexOf("Score"),
                unit = header.indexOf("Unit"), err = -1;
        for (int i = 0; i < header.size(); i++) if (header.get(i).startsWith("Score Error")) err = i;
        if (bench < 0 || score < 0 || unit < 0) throw new IOException(file + ": not a JMH CSV result (header " + header + ")");
        for (String line : lines.subList(1, lines.size())) {
            if (line.isBlank()) continue;
            List<String> f = split(line);
            if (mode >= 0 && !f.get(mode).equals("avgt")) {
                System.err.println("skipped (mode " + f.get(mode) + ", only avgt is converted): " + f.get(bench));
                continue;
            }
            double scale = toMicros(f.get(unit));
            Map<String, String> params = new LinkedHashMap<>();
            for (int i = 0; i < header.size() && i < f.size(); i++) {
                if (header.get(i).startsWith("Param: ") && !f.get(i).isEmpty()) params.put(header.get(i).substring(7), f.get(i));
            }
            double e = err < 0 ? Double.NaN : number(f.get(err)) * scale;
            String spread = Double.isNaN(e) ? "" : String.format(Locale.ROOT, "±%.1f", e); // NaN: a single iteration
            out.add(new Row(f.get(bench), number(f.get(score)) * scale, spread, params));
        }
        return out;
    }

    /** Factor from the row's time unit per op to µs per op. */
    private static double toMicros(String unit) {
        return switch (unit) {
            case "ns/op" -> 1e-3;
            case "us/op" -> 1;
            case "ms/op" -> 1e3;
            case "s/op" -> 1e6;
            default -> throw new IllegalArgumentException("unsupported unit " + unit + " (run with -bm avgt)");
        };
    }

    /** JMH may write a decimal comma under some locales; a NaN error (single iteration) is written as "NaN". */
    private static double number(String s) {
        return Double.parseDouble(s.replace(',', '.'));
    }

    /** Splits one CSV line: comma-separated, fields optionally in double quotes with "" as an escaped quote. */
    static List<String> split(String line) {
        List<String> f = new ArrayList<>();
        StringBuilder cur = new StringBuilder();
        boolean quoted = false;
        for (int i = 0; i < line.length(); i++) {
            char ch = line.charAt(i);
            if (quoted) {
                if (ch == '"' && i + 1 < line.length() && line.charAt(i + 1) == '"') {
                    cur.append('"');
                    i++;
                } else if (ch == '"') {
                    quoted = false;
                } else {
                    cur.append(ch);
                }
            } else if (ch == '"') {
                quoted = true;
            } else if (ch == ',') {
                f.add(cur.toString());
                cur.setLength(0);
            } else {
                cur.append(ch);
            }
        }
        f.add(cur.toString());
        return f;
    }
}
