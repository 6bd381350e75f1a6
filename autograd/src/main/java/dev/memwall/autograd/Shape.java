package dev.memwall.autograd;

import java.util.Arrays;

/** Shape arithmetic shared by ops: sizes, axes, broadcasting. Errors name the op and the shapes. */
public final class Shape {
    private Shape() {
    }

    public static int numel(int[] shape) {
        long n = 1;
        for (int d : shape) n *= d;
        if (n > Integer.MAX_VALUE) throw new IllegalArgumentException("shape " + str(shape) + " has more than 2^31-1 elements");
        return (int) n;
    }

    public static void check(int[] shape, String op) {
        for (int d : shape) {
            if (d < 0) throw new IllegalArgumentException(op + ": negative dimension in shape " + str(shape));
        }
    }

    public static String str(int[] shape) {
        return Arrays.toString(shape);
    }

    /** Normalises a possibly negative axis. */
    public static int axis(int axis, int rank, String op) {
        int a = axis < 0 ? axis + rank : axis;
        if (a < 0 || a >= rank) throw new IllegalArgumentException(op + ": axis " + axis + " out of range for rank " + rank);
        return a;
    }

    public static int flatIndex(int[] shape, int[] index) {
        if (index.length != shape.length) {
            throw new IllegalArgumentException("index " + Arrays.toString(index) + " does not match shape " + str(shape));
        }
        int flat = 0;
        for (int d = 0; d < shape.length; d++) {
            if (index[d] < 0 || index[d] >= shape[d]) {
                throw new IndexOutOfBoundsException("index " + Arrays.toString(index) + " out of shape " + str(shape));
            }
            flat = flat * shape[d] + index[d];
        }
        return flat;
    }

    /** NumPy broadcasting of two shapes; the error names the op and both shapes. */
    public static int[] broadcast(int[] a, int[] b, String op) {
        int r = Math.max(a.length, b.length);
        int[] out = new int[r];
        for (int k = 0; k < r; k++) {
            int da = k < r - a.length ? 1 : a[k - (r - a.length)];
            int db = k < r - b.length ? 1 : b[k - (r - b.length)];
            if (da != db && da != 1 && db != 1) {
                throw new IllegalArgumentException(op + ": shapes " + str(a) + " and " + str(b) + " cannot be broadcast together");
            }
            out[k] = Math.max(da, db);
        }
        return out;
    }

    /** Element strides of {@code in} when broadcast to {@code out}: 0 along broadcast axes. */
    public static int[] broadcastStrides(int[] in, int[] out) {
        int r = out.length;
        int[] st = new int[r];
        int s = 1;
        for (int k = r - 1; k >= 0; k--) {
            int ik = k - (r - in.length);
            int d = ik >= 0 ? in[ik] : 1;
            st[k] = d == 1 ? 0 : s;
            s *= d;
        }
        return st;
    }

    public static int[] without(int[] shape, int axis) {
        int[] r = new int[shape.length - 1];
        for (int k = 0, j = 0; k < shape.length; k++) if (k != axis) r[j++] = shape[k];
        return r;
    }

    public static int[] withSize(int[] shape, int axis, int size) {
        int[] r = shape.clone();
        r[axis] = size;
        return r;
    }

    /** Product of dimensions in [from, to). */
    public static int prod(int[] shape, int from, int to) {
        int p = 1;
        for (int k = from; k < to; k++) p *= shape[k];
        return p;
    }
}
