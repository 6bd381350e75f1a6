package dev.memwall.cli;

import org.knowm.xchart.AnnotationText;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.markers.SeriesMarkers;

import java.awt.Color;
import java.io.IOException;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A log-log roofline: arithmetic intensity (FLOP/byte) against achieved GFLOP/s, the bandwidth slope and the compute
 * ceiling as lines meeting at the ridge point, one labelled point per op and phase. Ops without FLOPs (copies) have
 * no place on a log axis and are left out; the table lists them. A generation profile's points are told apart by
 * shape, circles for prefill and diamonds for decode, and an op keeps one colour in both phases.
 */
final class RooflineChart {
    /** Colours for a generation profile's op types, distinct on white (XChart's own palette changes per series). */
    private static final Color[] PALETTE = {new Color(31, 119, 180), new Color(255, 127, 14), new Color(44, 160, 44),
            new Color(214, 39, 40), new Color(148, 103, 189), new Color(140, 86, 75), new Color(227, 119, 194),
            new Color(127, 127, 127), new Color(188, 189, 34), new Color(23, 190, 207)};

    private RooflineChart() {
    }

    /** PNG or SVG by the file's extension. */
    static byte[] render(Roofs roofs, List<ProfileReport.Op> ops, String title, String fileName) throws IOException {
        XYChart chart = new XYChartBuilder().width(1300).height(720).title(title)
                .xAxisTitle("arithmetic intensity (FLOP/byte, compulsory traffic)").yAxisTitle("GFLOP/s").build();
        var st = chart.getStyler();
        st.setXAxisLogarithmic(true);
        st.setYAxisLogarithmic(true);
        st.setChartBackgroundColor(Color.WHITE);
        st.setDefaultSeriesRenderStyle(XYSeries.XYSeriesRenderStyle.Scatter);
        st.setLegendPosition(org.knowm.xchart.style.Styler.LegendPosition.OutsideE); // colour to op, where labels crowd
        st.setAnnotationTextFontColor(Color.DARK_GRAY);
        double lo = 0.01, hi = 1000, ridge = roofs.ridge();
        for (ProfileReport.Op o : ops) {
            if (o.intensity() != null && o.intensity() > 0) {
                lo = Math.min(lo, o.intensity() / 2);
                hi = Math.max(hi, o.intensity() * 2);
            }
        }
        XYSeries roof = chart.addSeries(String.format("roofline (%.0f GB/s, %.0f GFLOP/s)", roofs.gbps(), roofs.gflops()),
                new double[]{lo, ridge, hi}, new double[]{roofs.attainable(lo), roofs.gflops(), roofs.gflops()});
        roof.setXYSeriesRenderStyle(XYSeries.XYSeriesRenderStyle.Line);
        roof.setMarker(SeriesMarkers.NONE);
        roof.setLineColor(Color.BLACK);
        chart.addAnnotation(new AnnotationText(String.format("ridge %.1f FLOP/B", ridge), ridge, roofs.gflops() * 1.25, false));
        chart.addAnnotation(new AnnotationText(String.format("sgemm peak %.0f GFLOP/s", roofs.gflops()), hi / 8, roofs.gflops() * 1.25, false));
        chart.addAnnotation(new AnnotationText(String.format("triad %.1f GB/s", roofs.gbps()), lo * 3, roofs.attainable(lo * 3) * 2.5, false));
        Map<String, Color> colours = new HashMap<>();
        for (ProfileReport.Op o : ops) {
            Double x = o.intensity(), y = o.gflops();
            if (x == null || y == null || x <= 0 || y <= 0) continue;
            String label = o.op() + " (" + o.phase() + ")";
            XYSeries s = chart.addSeries(label, new double[]{x}, new double[]{y});
            boolean decode = o.phase().equals(GenerationProfile.DECODE);
            s.setMarker(decode ? SeriesMarkers.DIAMOND : SeriesMarkers.CIRCLE);
            if (decode || o.phase().equals(GenerationProfile.PREFILL)) {
                Color c = colours.computeIfAbsent(o.op(), k -> PALETTE[colours.size() % PALETTE.length]);
                s.setMarkerColor(c);
            }
            chart.addAnnotation(new AnnotationText(label, x, y * 0.8, false));
        }
        return Charts.encode(chart, fileName);
    }
}
