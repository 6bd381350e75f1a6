package dev.memwall.kernels;

/** Copies that change layout: permute, slice along an axis, its zero-padded adjoint, causal masking. */
public final class Layout {
    private Layout() {
    }

    /** out = x.permute(axes), where out's shape is x's shape permuted. Runs of the innermost axis are copied whole. */
    public static void permute(float[] x, int offX, int[] shape, int[] axes, float[] out, int offOut) {
        int r = shape.length;
        int[] inStrides = new int[r];
        for (int d = r - 1, s = 1; d >= 0; d--) {
            inStrides[d] = s;
            s *= shape[d];
        }
        int[] outShape = new int[r], strideOfOut = new int[r];
        for (int d = 0; d < r; d++) {
            outShape[d] = shape[axes[d]];
            strideOfOut[d] = inStrides[axes[d]];
        }
        int inner = r == 0 ? 1 : outShape[r - 1];
        int innerStride = r == 0 ? 1 : strideOfOut[r - 1];
        int rows = 1;
        for (int d = 0; d < r - 1; d++) rows *= outShape[d];
        if (inner == 0) return;
        int rowsF = rows;
        Parallel.range(rowsF, inner, (from, to) -> {
            for (int row = from; row < to; row++) {
                int src = offX, rem = row;
                for (int d = r - 2; d >= 0; d--) {
                    int idx = rem % outShape[d];
                    rem /= outShape[d];
                    src += idx * strideOfOut[d];
                }
                int dst = offOut + row * inner;
                if (innerStride == 1) {
                    System.arraycopy(x, src, out, dst, inner);
                } else {
                    for (int j = 0; j < inner; j++) out[dst + j] = x[src + j * innerStride];
                }
            }
        });
    }

    /** Copies [start, start+len) of the middle axis of x viewed as [outer, axisLen, inner] into out [outer, len, inner]. */
    public static void slice(float[] x, int offX, int outer, int axisLen, int inner, int start, int len, float[] out, int offOut) {
        int run = len * inner;
        Parallel.range(outer, run, (from, to) -> {
            for (int o = from; o < to; o++) System.arraycopy(x, offX + (o * axisLen + start) * inner, out, offOut + o * run, run);
        });
    }

    /** Adjoint of {@link #slice}: out [outer, axisLen, inner] is zero except [start, start+len), taken from g. */
    public static void pad(float[] g, int offG, int outer, int axisLen, int inner, int start, int len, float[] out, int offOut) {
        int run = len * inner;
        Parallel.range(outer, (long) axisLen * inner, (from, to) -> {
            for (int o = from; o < to; o++) {
                int base = offOut + o * axisLen * inner;
                java.util.Arrays.fill(out, base, base + axisLen * inner, 0f);
                System.arraycopy(g, offG + o * run, out, base + start * inner, run);
            }
        });
    }

    /** out = x with every [.., i, j] where j > i (future positions) set to {@code value}; x and out are [mats, t, t]. */
    public static void causalFill(float[] x, int offX, float[] out, int offOut, int mats, int t, float value) {
        Parallel.range(mats, (long) t * t, (from, to) -> {
            for (int m = from; m < to; m++) {
                for (int i = 0; i < t; i++) {
                    int row = m * t * t + i * t;
                    if (x != out || offX != offOut) System.arraycopy(x, offX + row, out, offOut + row, i + 1);
                    java.util.Arrays.fill(out, offOut + row + i + 1, offOut + row + t, value);
                }
            }
        });
    }
}
