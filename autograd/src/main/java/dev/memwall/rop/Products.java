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
        return Tensor.forOverwrite("rop.hz", p.value().shape());
    }

    /**
     * One pass over two [rows, n] blocks: adds the column sums of {@code a} into {@code dstA} (skipped when null) and
     * writes those of {@code b} to {@code dstB} (a bias's gradient and its H·z). Columns are split over the cores and
     * rows summed in order from zero, so the result does not depend on the split and is what adding the rows onto a
     * zero-filled buffer gives; {@code dstA} then gets the sum added, where adding row by row into it would round after
     * every row.
     */
    static void columnSums(float[] a, int aOff, float[] b, int bOff, int rows, int n, float[] dstA, int offA, float[] dstB, int offB) {
        dev.memwall.kernels.Parallel.range(n, 2L * rows, (c0, c1) -> {
            // sums in local arrays, each row's slice copied next to them first: loops over arrays that start at the
            // same index are what C2 vectorizes (it cannot rule out that two parameter arrays overlap at an offset)
            int len = c1 - c0;
            float[] sumB = new float[len], sumA = dstA == null ? null : new float[len], row = new float[len];
            for (int r = 0; r < rows; r++) {
                System.arraycopy(b, bOff + r * n + c0, row, 0, len);
                for (int j = 0; j < len; j++) sumB[j] += row[j];
                if (sumA == null) continue;
                System.arraycopy(a, aOff + r * n + c0, row, 0, len);
                for (int j = 0; j < len; j++) sumA[j] += row[j];
            }
            System.arraycopy(sumB, 0, dstB, offB + c0, len);
            if (sumA == null) return;
            for (int j = 0; j < len; j++) dstA[offA + c0 + j] += sumA[j];
        });
    }
}
