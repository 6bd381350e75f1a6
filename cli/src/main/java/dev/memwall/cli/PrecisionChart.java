package dev.memwall.cli;

import de.erichseifert.vectorgraphics2d.Processors;
import de.erichseifert.vectorgraphics2d.VectorGraphics2D;
import de.erichseifert.vectorgraphics2d.util.PageSize;
import org.knowm.xchart.CategoryChart;
import org.knowm.xchart.CategoryChartBuilder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.internal.chartpart.Chart;
import org.knowm.xchart.style.markers.SeriesMarkers;

import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * compare-precision's chart: training loss per step of each setting (left) and the GPT benchmark model's peak bytes
 * per category (right), side by side in one PNG or SVG (both charts painted on one canvas).
 */
final class PrecisionChart {
    private PrecisionChart() {
    }

    static byte[] draw(Map<String, List<Double>> curves, List<Map<String, Object>> rows, String fileName) throws java.io.IOException {
        XYChart loss = losses(curves);
        CategoryChart bytes = bytes(rows);
        int width = loss.getWidth() + bytes.getWidth(), height = Math.max(loss.getHeight(), bytes.getHeight());
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        if (fileName.toLowerCase(java.util.Locale.ROOT).endsWith(".svg")) {
            VectorGraphics2D g = new VectorGraphics2D();
            paintBoth(g, loss, bytes, width, height);
            Processors.get("svg").getDocument(g.getCommands(), new PageSize(0, 0, width, height)).writeTo(out);
        } else {
            BufferedImage img = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
            Graphics2D g = img.createGraphics();
            paintBoth(g, loss, bytes, width, height);
            g.dispose();
            javax.imageio.ImageIO.write(img, "png", out);
        }
        return out.toByteArray();
    }

    private static void paintBoth(Graphics2D g, XYChart loss, CategoryChart bytes, int width, int height) {
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, width, height);
        paint(loss, g, 0);
        paint(bytes, g, loss.getWidth());
    }

    private static void paint(Chart<?, ?> chart, Graphics2D g, int x) {
        java.awt.geom.AffineTransform before = g.getTransform();
        g.translate(x, 0);
        g.setRenderingHint(java.awt.RenderingHints.KEY_ANTIALIASING, java.awt.RenderingHints.VALUE_ANTIALIAS_ON);
        chart.paint(g, chart.getWidth(), chart.getHeight());
        g.setTransform(before);
    }

    private static XYChart losses(Map<String, List<Double>> curves) {
        XYChart ch = new XYChartBuilder().width(800).height(520).title("Training loss per setting (addition task)")
                .xAxisTitle("step").yAxisTitle("training loss").build();
        ch.getStyler().setChartBackgroundColor(Color.WHITE);
        curves.forEach((label, ys) -> {
            List<Double> x = new ArrayList<>(), y = new ArrayList<>();
            for (int i = 0; i < ys.size(); i++) {
                if (!Double.isFinite(ys.get(i))) continue; // a skipped or diverged step has no point
                x.add(i + 1.0);
                y.add(ys.get(i));
            }
            if (x.isEmpty()) return;
            XYSeries s = ch.addSeries(label, x, y);
            s.setMarker(SeriesMarkers.NONE);
        });
        return ch;
    }

    @SuppressWarnings("unchecked")
    private static CategoryChart bytes(List<Map<String, Object>> rows) {
        CategoryChart ch = new CategoryChartBuilder().width(800).height(520)
                .title("GPT benchmark model: peak bytes by category").xAxisTitle("setting").yAxisTitle("MiB").build();
        ch.getStyler().setChartBackgroundColor(Color.WHITE);
        ch.getStyler().setXAxisLabelRotation(30);
        List<String> names = new ArrayList<>();
        for (Map<String, Object> r : rows) names.add((String) r.get("setting"));
        for (String cat : new String[]{"parameter", "gradient", "optimizer_state", "activation", "total"}) {
            List<Double> mib = new ArrayList<>();
            for (Map<String, Object> r : rows) mib.add(ComparePrecisionCommand.mib(((Map<String, Long>) r.get("bench_peak_bytes")).get(cat)));
            ch.addSeries(cat, names, mib);
        }
        return ch;
    }
}
