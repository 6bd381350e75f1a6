package dev.memwall.cli;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The eval spec on top of the independent double-precision GPT ({@link dev.memwall.testing.ReferenceGpt}, shared
 * through the autograd test jar): the mean loss over every target of every window of a byte file, and the global
 * gradient norm by central finite differences.
 */
final class ReferenceGpt {
    final Map<String, double[]> w = new LinkedHashMap<>();
    final int layers;
    private final dev.memwall.testing.ReferenceGpt model;

    ReferenceGpt(Map<String, float[]> values, int heads) {
        values.forEach((k, v) -> {
            double[] d = new double[v.length];
            for (int i = 0; i < v.length; i++) d[i] = v[i];
            w.put(k, d);
        });
        this.model = new dev.memwall.testing.ReferenceGpt(w, heads);
        this.layers = model.layers();
    }

    /** Windows i = 0 .. count-1 with inputs data[i·T, i·T+T) and targets data[i·T+1, i·T+T+1). */
    double meanLoss(byte[] data, int t, int count) {
        double sum = 0;
        for (int i = 0; i < count; i++) {
            int[] ids = new int[t], tg = new int[t];
            for (int j = 0; j < t; j++) {
                ids[j] = data[i * t + j] & 0xFF;
                tg[j] = data[i * t + j + 1] & 0xFF;
            }
            sum += model.sequenceLossSum(ids, tg);
        }
        return sum / ((double) count * t);
    }

    static double geluTanh(double x) {
        return dev.memwall.testing.ReferenceGpt.geluTanh(x);
    }

    /** Global L2 norm of d(meanLoss)/d(every parameter) by central differences of step {@code h}. */
    double gradNorm(byte[] data, int t, int count, double h) {
        double sq = 0;
        for (double[] v : w.values()) { // the model reads these arrays, so perturbing them in place is seen
            for (int i = 0; i < v.length; i++) {
                double old = v[i];
                v[i] = old + h;
                double up = meanLoss(data, t, count);
                v[i] = old - h;
                double down = meanLoss(data, t, count);
                v[i] = old;
                double g = (up - down) / (2 * h);
                sq += g * g;
            }
        }
        return Math.sqrt(sq);
    }

    /** d(meanLoss)/d(every parameter) by central differences of step {@code h}, in the order of {@link #w}'s arrays. */
    double[] gradient(byte[] data, int t, int count, double h) {
        int n = 0;
        for (double[] v : w.values()) n += v.length;
        double[] g = new double[n];
        int k = 0;
        for (double[] v : w.values()) {
            for (int i = 0; i < v.length; i++, k++) {
                double old = v[i];
                v[i] = old + h;
                double up = meanLoss(data, t, count);
                v[i] = old - h;
                double down = meanLoss(data, t, count);
                v[i] = old;
                g[k] = (up - down) / (2 * h);
            }
        }
        return g;
    }

    /** Adds {@code scale · d} to the parameters ({@link #w}'s order). */
    void move(double[] d, double scale) {
        int k = 0;
        for (double[] v : w.values()) for (int i = 0; i < v.length; i++, k++) v[i] += scale * d[k];
    }
}
