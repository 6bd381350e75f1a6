package dev.memwall.ops;

import java.util.Arrays;

/** A dense row-major array of doubles with a shape: the value type of the double-precision references in {@link Ref}. */
final class Nd {
    final int[] shape;
    final double[] d;
    private final int[] strides;

    Nd(int[] shape, double[] d) {
        this.shape = shape.clone();
        this.d = d;
        this.strides = new int[shape.length];
        int n = 1;
        for (int k = shape.length - 1; k >= 0; k--) {
            strides[k] = n;
            n *= shape[k];
        }
        if (n != d.length) throw new IllegalArgumentException(d.length + " values for shape " + Arrays.toString(shape));
    }

    static Nd zeros(int... shape) {
        return new Nd(shape, new double[numel(shape)]);
    }

    static int numel(int[] shape) {
        int n = 1;
        for (int s : shape) n *= s;
        return n;
    }

    int rank() {
        return shape.length;
    }

    /** Size of {@code axis}; negative axes count from the end. */
    int size(int axis) {
        return shape[axis < 0 ? axis + shape.length : axis];
    }

    int flat(int[] idx) {
        if (idx.length != shape.length) throw new IllegalArgumentException("index rank " + idx.length + " for shape " + Arrays.toString(shape));
        int f = 0;
        for (int k = 0; k < idx.length; k++) {
            if (idx[k] < 0 || idx[k] >= shape[k]) throw new IndexOutOfBoundsException(Arrays.toString(idx) + " in " + Arrays.toString(shape));
            f += idx[k] * strides[k];
        }
        return f;
    }

    /** The multi-index of flat position {@code f}. */
    int[] index(int f) {
        return index(f, new int[shape.length]);
    }

    /** The multi-index of flat position {@code f}, written into {@code idx}. */
    int[] index(int f, int[] idx) {
        for (int k = 0; k < shape.length; k++) {
            idx[k] = f / strides[k];
            f %= strides[k];
        }
        return idx;
    }

    double get(int... idx) {
        return d[flat(idx)];
    }

    void set(double v, int... idx) {
        d[flat(idx)] = v;
    }

    void add(double v, int... idx) {
        d[flat(idx)] += v;
    }

    @Override
    public String toString() {
        return "Nd" + Arrays.toString(shape) + Arrays.toString(d);
    }
}
