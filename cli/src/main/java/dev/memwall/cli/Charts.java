package dev.memwall.cli;

import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.VectorGraphicsEncoder;
import org.knowm.xchart.internal.chartpart.Chart;

import java.io.ByteArrayOutputStream;
import java.io.IOException;

/** Encodes an XChart chart as the file name asks: SVG for {@code .svg}, PNG otherwise. */
final class Charts {
    private Charts() {
    }

    /** The bytes of {@code chart} as SVG or PNG; the caller writes them atomically. */
    static byte[] encode(Chart<?, ?> chart, String fileName) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        if (fileName.toLowerCase(java.util.Locale.ROOT).endsWith(".svg")) {
            VectorGraphicsEncoder.saveVectorGraphic(chart, out, VectorGraphicsEncoder.VectorGraphicsFormat.SVG);
        } else {
            BitmapEncoder.saveBitmap(chart, out, BitmapEncoder.BitmapFormat.PNG);
        }
        return out.toByteArray();
    }
}
