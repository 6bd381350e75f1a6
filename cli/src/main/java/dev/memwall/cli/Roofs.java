package dev.memwall.cli;

import dev.memwall.kernels.Parallel;

/**
 * The machine's two roofs, measured on the spot: the sgemm peak (best of several 2048³ OpenBLAS sgemms, as bench times
 * it) and the memory bandwidth of a STREAM-like triad a[i] = b[i] + s·c[i] over heap arrays far larger than the
 * last-level cache, split over the same threads the kernels use.
 *
 * <p>The triad counts 12 bytes per element, STREAM's convention: b and c read, a written. The write-allocate read of a's
 * cache lines (16 bytes per element of real traffic without non-temporal stores) is not counted, so the figure is what
 * STREAM would report, and a kernel's compulsory-traffic GB/s is compared with it on the same terms.
 */
record Roofs(double gflops, double gbps) {
    /** 3 × 48 MiB: 4.5 × a 32 MiB L3, so the triad streams from DRAM. */
    static final int TRIAD_ELEMENTS = 12 << 20;
    static final int TRIAD_RUNS = 5;

    /** Ridge point: the arithmetic intensity (FLOP/byte) where the two roofs meet. */
    double ridge() {
        return gflops / gbps;
    }

    /** The roofline: attainable GFLOP/s at {@code intensity} FLOP/byte. */
    double attainable(double intensity) {
        return Math.min(gflops, intensity * gbps);
    }

    static Roofs measure() {
        return new Roofs(BenchCommand.sgemmPeakGflops(), triadGbps(TRIAD_ELEMENTS, TRIAD_RUNS));
    }

    /** Best of {@code runs} triads after one warm-up (which also touches every page), in GB/s (1e9 bytes). */
    static double triadGbps(int n, int runs) {
        float[] a = new float[n], b = new float[n], c = new float[n];
        java.util.Arrays.fill(b, 1f);
        java.util.Arrays.fill(c, 2f);
        float s = 3f;
        double best = Double.MAX_VALUE;
        for (int r = 0; r <= runs; r++) {
            long t0 = System.nanoTime();
            Parallel.range(n, 1, (from, to) -> {
                for (int i = from; i < to; i++) a[i] = b[i] + s * c[i];
            });
            double seconds = (System.nanoTime() - t0) / 1e9;
            if (r > 0) best = Math.min(best, seconds);
        }
        if (a[n - 1] != 7f) throw new IllegalStateException("triad computed " + a[n - 1] + ", expected 7");
        return 12.0 * n / best / 1e9;
    }
}
