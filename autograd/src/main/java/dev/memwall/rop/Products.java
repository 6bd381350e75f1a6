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

    /** Adds column sums of a [rows, n] block into {@code dst[off..off+n)}: a bias's gradient or its tangent. */
    static void addColumnSums(float[] src, int srcOff, int rows, int n, float[] dst, int off) {
        // columns split over the cores, rows summed in order: the same result whatever the split
        dev.memwall.kernels.Parallel.range(n, rows, (c0, c1) -> {
            for (int r = 0; r < rows; r++) {
                int s = srcOff + r * n;
                for (int j = c0; j < c1; j++) dst[off + j] += src[s + j];
            }
        });
    }
}
