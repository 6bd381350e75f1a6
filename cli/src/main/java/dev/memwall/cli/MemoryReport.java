package dev.memwall.cli;

import dev.memwall.memory.Category;
import dev.memwall.memory.MemoryEvent;
import dev.memwall.memory.Phase;
import dev.memwall.train.StepStats;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.markers.SeriesMarkers;

import java.awt.Color;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Per-step memory figures of a run and the event timeline of one recorded step: a table for the terminal, a JSON
 * report, and a chart of the step (bytes by category, stacked, over the step's events).
 */
final class MemoryReport {
    private final List<StepStats> steps = new ArrayList<>();
    private List<MemoryEvent> timeline = List.of();
    private long timelineStep = -1;

    void add(StepStats s) {
        steps.add(s);
    }

    void timeline(long step, List<MemoryEvent> events) {
        timelineStep = step;
        timeline = events;
    }

    /** Peak over all steps, by category and total. */
    Map<Category, Long> peakOverRun() {
        Map<Category, Long> m = new LinkedHashMap<>();
        for (Category c : Category.values()) m.put(c, 0L);
        for (StepStats s : steps) s.peakBytes().forEach((c, v) -> m.merge(c, v, Math::max));
        return m;
    }

    long peakTotalOverRun() {
        long t = 0;
        for (StepStats s : steps) t = Math.max(t, s.peakTotalBytes());
        return t;
    }

    String table() {
        StringBuilder sb = new StringBuilder();
        sb.append(String.format("%-16s %14s %14s%n", "memory", "peak MiB", "after MiB"));
        Map<Category, Long> peak = peakOverRun();
        Map<Category, Long> after = steps.isEmpty() ? Map.of() : steps.get(steps.size() - 1).currentBytes();
        long afterTotal = 0;
        for (Category c : Category.values()) {
            long a = after.getOrDefault(c, 0L);
            afterTotal += a;
            sb.append(String.format("%-16s %14.2f %14.2f%n", c.name().toLowerCase(), peak.get(c) / 1048576.0, a / 1048576.0));
        }
        sb.append(String.format("%-16s %14.2f %14.2f%n", "total", peakTotalOverRun() / 1048576.0, afterTotal / 1048576.0));
        return sb.toString();
    }

    Map<String, Object> toJson() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("peak_bytes", Json.bytes(peakOverRun(), peakTotalOverRun()));
        List<Map<String, Object>> rows = new ArrayList<>();
        for (StepStats s : steps) {
            Map<String, Object> r = new LinkedHashMap<>();
            r.put("step", s.step());
            r.put("loss", s.loss());
            r.put("peak_bytes", Json.bytes(s.peakBytes(), s.peakTotalBytes()));
            long cur = 0;
            for (long v : s.currentBytes().values()) cur += v;
            r.put("current_bytes", Json.bytes(s.currentBytes(), cur));
            rows.add(r);
        }
        m.put("steps", rows);
        Map<String, Object> tl = new LinkedHashMap<>();
        tl.put("step", timelineStep);
        List<Map<String, Object>> events = new ArrayList<>();
        for (MemoryEvent e : timeline) {
            Map<String, Object> r = new LinkedHashMap<>();
            r.put("op", e.op());
            r.put("phase", e.phase().name().toLowerCase());
            r.put("category", e.category().name().toLowerCase());
            r.put("delta_bytes", e.deltaBytes());
            r.put("total_bytes", e.total());
            events.add(r);
        }
        tl.put("events", events);
        m.put("timeline", tl);
        return m;
    }

    /** Bytes by category stacked over the recorded step's events, as PNG or SVG by the file's extension. */
    byte[] chart(String fileName) throws IOException {
        XYChart chart = new XYChartBuilder().width(1000).height(560)
                .title("Memory during training step " + timelineStep + ", by category")
                .xAxisTitle("event").yAxisTitle("MiB").build();
        chart.getStyler().setDefaultSeriesRenderStyle(XYSeries.XYSeriesRenderStyle.Area);
        chart.getStyler().setMarkerSize(0);
        chart.getStyler().setChartBackgroundColor(Color.WHITE);
        chart.getStyler().setYAxisMin(0.0);
        int n = Math.max(1, timeline.size());
        double[] x = new double[n];
        for (int i = 0; i < n; i++) x[i] = i;
        Category[] order = Category.values();
        double[][] cumulative = new double[order.length][n];
        for (int i = 0; i < timeline.size(); i++) {
            long[] cur = timeline.get(i).current();
            double sum = 0;
            for (int k = 0; k < order.length; k++) {
                sum += cur[order[k].ordinal()] / 1048576.0;
                cumulative[k][i] = sum;
            }
        }
        // Areas are drawn in order, so the largest cumulative sum goes first and each smaller one is painted over it.
        for (int k = order.length - 1; k >= 0; k--) {
            XYSeries s = chart.addSeries(order[k].name().toLowerCase(), x, cumulative[k]);
            s.setMarker(SeriesMarkers.NONE);
        }
        double top = 0;
        for (double v : cumulative[order.length - 1]) top = Math.max(top, v);
        addPhaseLabels(chart, top * 1.04);
        return Charts.encode(chart, fileName);
    }

    /** Names each phase where it starts, just above the highest stack. */
    private void addPhaseLabels(XYChart chart, double y) {
        Phase current = null;
        for (int i = 0; i < timeline.size(); i++) {
            Phase p = timeline.get(i).phase();
            if (p != current) {
                current = p;
                chart.addAnnotation(new org.knowm.xchart.AnnotationText("▼ " + p.name().toLowerCase(), i + 12, y, false));
            }
        }
    }

    static void checkChartName(Path p) {
        String n = p.getFileName().toString().toLowerCase();
        if (!n.endsWith(".png") && !n.endsWith(".svg")) {
            throw new IllegalArgumentException("--memory-chart " + p + ": the file name must end in .png or .svg");
        }
    }
}
