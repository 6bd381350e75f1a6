package dev.memwall.cli;

import org.knowm.xchart.CategoryChart;
import org.knowm.xchart.CategoryChartBuilder;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * compare-sharding's chart: one group of bars per (stage, N) — model state per rank measured and by formula, bytes
 * sent per step measured and by formula — so that each measurement stands next to the figure it should match.
 */
final class ShardingChart {
    private ShardingChart() {
    }

    /** The chart as PNG or SVG bytes (by {@code fileName}); the caller writes them atomically. */
    static byte[] encode(List<ShardedTrainingRun.Measured> rows, String fileName) throws IOException {
        CategoryChart ch = new CategoryChartBuilder().width(1200).height(500)
                .title("Model state per rank and bytes sent per step, by ZeRO stage and worker count")
                .xAxisTitle("ZeRO stage S, N workers").yAxisTitle("MiB").build();
        ch.getStyler().setChartBackgroundColor(java.awt.Color.WHITE);
        List<String> names = new ArrayList<>();
        List<Double> state = new ArrayList<>(), stateFormula = new ArrayList<>(), sent = new ArrayList<>(), sentFormula = new ArrayList<>();
        for (ShardedTrainingRun.Measured m : rows) {
            names.add("S" + m.stage().number() + " N=" + m.n()); // short: nine or more groups share the axis
            state.add(m.modelStateBytes() / 1048576.0);
            stateFormula.add(m.modelStateFormula() / 1048576.0);
            sent.add(m.commBytesSent() / 1048576.0);
            sentFormula.add(m.commFormula() / 1048576.0);
        }
        ch.addSeries("model state per rank, measured", names, state);
        ch.addSeries("model state per rank, formula", names, stateFormula);
        ch.addSeries("bytes sent per step, measured", names, sent);
        ch.addSeries("bytes sent per step, formula", names, sentFormula);
        return Charts.encode(ch, fileName);
    }
}
