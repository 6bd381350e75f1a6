package dev.memwall.rop;

import dev.memwall.autograd.Tensor;

/**
 * Where a pass's outputs go: whether the gradient is added into the parameters' {@code .grad()}, and the sink that
 * receives each parameter's H·z (a temporary the pass releases after the call).
 */
record Products(boolean addGradient, GptRop.ProductSink sink) {
    /** A fresh zero-filled H·z buffer shaped like {@code p}. */
    static Tensor hzFor(Param p) {
        return Tensor.empty("rop.hz", p.value().shape());
    }

    void emit(Param p, Tensor hz) {
        try {
            sink.add(p.index(), hz);
        } finally {
            hz.release();
        }
    }

    /** An H·z buffer shaped like {@code p} whose contents are unspecified: for a product that writes all of it. */
    static Tensor hzUnfilled(Param p) {
        return Tensor.uninitialized("rop.hz", p.value().shape());
    }

    /**
     * One pass over two [rows, n] blocks: adds the column sums of {@code a} into {@code dstA} (skipped when null) and
     * writes those of {@code b} to {@code dstB} (a bias's gradient and its H·z). Columns are split over the cores and
     * rows summed in order, so the result does not depend on the split, and equals adding onto zeros.
     */
    static void columnSums(float[] a, int aOff, float[] b, int bOff, int rows, int n, float[] dstA, int offA, float[] dstB, int offB) {
        dev.memwall.kernels.Parallel.range(n, 2L * rows, (c0, c1) -> {
            // the first row is written as it is (+0f turns -0 into 0, exactly as adding onto a zero-filled buffer)
            for (int j = c0; j < c1; j++) dstB[offB + j] = 0f + b[bOff + j];
            if (dstA != null) for (int j = c0; j < c1; j++) dstA[offA + j] += a[aOff + j];
            for (int r = 1; r < rows; r++) {
                int sb = bOff + r * n;
                for (int j = c0; j < c1; j++) dstB[offB + j] += b[sb + j];
                if (dstA == null) continue;
                int sa = aOff + r * n;
                for (int j = c0; j < c1; j++) dstA[offA + j] += a[sa + j];
            }
        });
    }
}
