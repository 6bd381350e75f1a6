package dev.memwall.kernels;

/** Sums along axes. A tensor is seen as [outer, len, inner] around the reduced axis. */
public final class Reductions {
    private static final KernelBodies K = Vectorization.bodies();
    /** Sum-of-squares block: partial sums per fixed block, so the result does not depend on the thread count. */
    private static final int SQUARES_BLOCK = 1 << 16;

    private Reductions() {
    }

    /** out[o, i] = sum_a x[o, a, i]. */
    public static void sumAxis(float[] x, int offX, int outer, int len, int inner, float[] out, int offOut) {
        if (inner == 1) {
            Parallel.range(outer, len, (from, to) -> {
                for (int o = from; o < to; o++) {
                    float s = 0f;
                    int base = offX + o * len;
                    for (int a = 0; a < len; a++) s += x[base + a];
                    out[offOut + o] = s;
                }
            });
            return;
        }
        // Accumulate whole rows so the inner loop runs over contiguous memory; split over the inner columns when
        // there is a single outer block (the common [N, D] -> [D] bias-gradient case), else over outer blocks.
        if (outer == 1) { // accumulate into a local array: a store to it never aliases x, so the loop vectorizes
            Parallel.range(inner, len, (from, to) -> {
                float[] acc = new float[to - from];
                K.columnSums(x, offX, len, inner, from, to, acc);
                System.arraycopy(acc, 0, out, offOut + from, to - from);
            });
            return;
        }
        Parallel.range(outer, (long) len * inner, (from, to) -> {
            for (int o = from; o < to; o++) {
                int ob = offOut + o * inner;
                java.util.Arrays.fill(out, ob, ob + inner, 0f);
                for (int a = 0; a < len; a++) {
                    int base = offX + (o * len + a) * inner;
                    K.add(out, ob, x, base, out, ob, inner);
                }
            }
        });
    }

    /**
     * Σ x² over [off, off + n) in double: blocks of 65,536 elements summed by {@link KernelBodies#sumOfSquares} over
     * the cores, their sums added in block order, so the result does not depend on the number of threads or timing.
     */
    public static double sumOfSquares(float[] x, int off, int n) {
        if (n < 0 || off < 0 || off + n > x.length) {
            throw new IndexOutOfBoundsException("sumOfSquares: [" + off + ", " + off + " + " + n + ") outside an array of " + x.length);
        }
        int blocks = (n + SQUARES_BLOCK - 1) / SQUARES_BLOCK;
        double[] partial = new double[blocks];
        Parallel.range(blocks, SQUARES_BLOCK, (from, to) -> {
            for (int blk = from; blk < to; blk++) {
                int start = blk * SQUARES_BLOCK;
                partial[blk] = K.sumOfSquares(x, off + start, Math.min(SQUARES_BLOCK, n - start));
            }
        });
        double s = 0;
        for (double p : partial) s += p;
        return s;
    }

    /** Sum of all elements, accumulated in double so the result does not depend on the split. */
    public static float sumAll(float[] x, int off, int n) {
        double s = 0;
        for (int i = 0; i < n; i++) s += x[off + i];
        return (float) s;
    }

    /**
     * Reduces {@code g} of shape {@code gShape} onto a broadcastable {@code out} whose element strides in g's shape are
     * {@code outStrides} (0 along broadcast axes): the backward of broadcasting.
     */
    public static void sumTo(float[] g, int offG, int[] gShape, float[] out, int offOut, int outLen, int[] outStrides) {
        java.util.Arrays.fill(out, offOut, offOut + outLen, 0f);
        int r = gShape.length;
        int inner = r == 0 ? 1 : gShape[r - 1];
        if (inner == 0) return;
        int rows = 1;
        for (int d = 0; d < r - 1; d++) rows *= gShape[d];
        int so = r == 0 ? 0 : outStrides[r - 1];
        for (int row = 0; row < rows; row++) {
            int io = offOut, rem = row;
            for (int d = r - 2; d >= 0; d--) {
                int idx = rem % gShape[d];
                rem /= gShape[d];
                io += idx * outStrides[d];
            }
            int ig = offG + row * inner;
            if (so == 1) {
                K.add(out, io, g, ig, out, io, inner);
            } else {
                float s = 0f;
                for (int j = 0; j < inner; j++) s += g[ig + j];
                out[io] += s;
            }
        }
    }
}
