package dev.memwall.ops;

import java.util.Arrays;
import java.util.function.DoubleBinaryOperator;
import java.util.function.DoubleUnaryOperator;

/**
 * Double-precision reference forwards of memwall's ops, written from their mathematical definitions with plain loops
 * over multi-indices. Nothing here calls memwall: these are what the float ops and their gradients are checked against.
 */
final class Ref {
    private Ref() {
    }

    static Nd map(Nd x, DoubleUnaryOperator f) {
        Nd o = Nd.zeros(x.shape);
        for (int i = 0; i < x.d.length; i++) o.d[i] = f.applyAsDouble(x.d[i]);
        return o;
    }

    /** NumPy broadcasting: shapes aligned on the right, a size-1 axis stretches. */
    static int[] broadcastShape(int[] a, int[] b) {
        int r = Math.max(a.length, b.length);
        int[] out = new int[r];
        for (int k = 0; k < r; k++) {
            int da = k - (r - a.length) >= 0 ? a[k - (r - a.length)] : 1;
            int db = k - (r - b.length) >= 0 ? b[k - (r - b.length)] : 1;
            if (da != db && da != 1 && db != 1) throw new IllegalArgumentException(Arrays.toString(a) + " vs " + Arrays.toString(b));
            out[k] = Math.max(da, db);
        }
        return out;
    }

    /** The element of an operand of {@code shape} that broadcasts to output index {@code idx}. */
    static int[] project(int[] idx, int[] shape) {
        return project(idx, shape, new int[shape.length]);
    }

    static int[] project(int[] idx, int[] shape, int[] r) {
        int off = idx.length - shape.length;
        for (int k = 0; k < shape.length; k++) r[k] = shape[k] == 1 ? 0 : idx[k + off];
        return r;
    }

    static Nd zip(Nd a, Nd b, DoubleBinaryOperator f) {
        Nd o = Nd.zeros(broadcastShape(a.shape, b.shape));
        int[] idx = new int[o.rank()], ia = new int[a.rank()], ib = new int[b.rank()];
        for (int i = 0; i < o.d.length; i++) {
            o.index(i, idx);
            o.d[i] = f.applyAsDouble(a.get(project(idx, a.shape, ia)), b.get(project(idx, b.shape, ib)));
        }
        return o;
    }

    static Nd add(Nd a, Nd b) { return zip(a, b, Double::sum); }
    static Nd sub(Nd a, Nd b) { return zip(a, b, (p, q) -> p - q); }
    static Nd mul(Nd a, Nd b) { return zip(a, b, (p, q) -> p * q); }
    static Nd div(Nd a, Nd b) { return zip(a, b, (p, q) -> p / q); }
    static Nd scale(Nd x, double c) { return map(x, v -> v * c); }

    private static int axis(int a, int rank) {
        return a < 0 ? a + rank : a;
    }

    static Nd sum(Nd x, int axis, boolean keepDim) {
        int a = axis(axis, x.rank());
        int[] keep = x.shape.clone();
        keep[a] = 1;
        Nd o = Nd.zeros(keep);
        for (int i = 0; i < x.d.length; i++) {
            int[] idx = x.index(i);
            idx[a] = 0;
            o.add(x.d[i], idx);
        }
        if (keepDim) return o;
        int[] without = new int[x.rank() - 1];
        for (int k = 0, j = 0; k < x.rank(); k++) if (k != a) without[j++] = x.shape[k];
        return new Nd(without, o.d);
    }

    static Nd mean(Nd x, int axis, boolean keepDim) {
        return scale(sum(x, axis, keepDim), 1.0 / x.size(axis));
    }

    static Nd sumAll(Nd x) {
        double s = 0;
        for (double v : x.d) s += v;
        return new Nd(new int[0], new double[]{s});
    }

    static Nd meanAll(Nd x) {
        return scale(sumAll(x), 1.0 / x.d.length);
    }

    static Nd expand(Nd x, int... shape) {
        Nd o = Nd.zeros(shape);
        for (int i = 0; i < o.d.length; i++) o.d[i] = x.get(project(o.index(i), x.shape));
        return o;
    }

    static Nd sumTo(Nd g, int... shape) {
        Nd o = Nd.zeros(shape);
        for (int i = 0; i < g.d.length; i++) o.add(g.d[i], project(g.index(i), shape));
        return o;
    }

    /** op(a) · op(b) over the last two axes; leading axes are batch axes (equal, or absent on one side). */
    static Nd matmul(Nd a, Nd b, boolean ta, boolean tb) {
        int ra = a.rank(), rb = b.rank();
        int m = ta ? a.shape[ra - 1] : a.shape[ra - 2], k = ta ? a.shape[ra - 2] : a.shape[ra - 1];
        int n = tb ? b.shape[rb - 2] : b.shape[rb - 1];
        if ((tb ? b.shape[rb - 1] : b.shape[rb - 2]) != k) throw new IllegalArgumentException("inner dims");
        int[] batch = ra > 2 ? Arrays.copyOf(a.shape, ra - 2) : Arrays.copyOf(b.shape, rb - 2);
        int[] os = Arrays.copyOf(batch, batch.length + 2);
        os[batch.length] = m;
        os[batch.length + 1] = n;
        Nd o = Nd.zeros(os);
        for (int f = 0; f < o.d.length; f++) {
            int[] idx = o.index(f);
            int i = idx[batch.length], j = idx[batch.length + 1];
            int[] ia = Arrays.copyOf(ra > 2 ? idx : new int[0], ra), ib = Arrays.copyOf(rb > 2 ? idx : new int[0], rb);
            double s = 0;
            for (int p = 0; p < k; p++) {
                ia[ra - 2] = ta ? p : i;
                ia[ra - 1] = ta ? i : p;
                ib[rb - 2] = tb ? j : p;
                ib[rb - 1] = tb ? p : j;
                s += a.get(ia) * b.get(ib);
            }
            o.d[f] = s;
        }
        return o;
    }

    /** y[..., o] = sum_i x[..., i] w[o, i] + b[o]; b may be null. */
    static Nd linear(Nd x, Nd w, Nd b) {
        int in = w.shape[1], out = w.shape[0], rows = x.d.length / in;
        int[] ys = x.shape.clone();
        ys[ys.length - 1] = out;
        Nd y = Nd.zeros(ys);
        for (int r = 0; r < rows; r++) {
            for (int o = 0; o < out; o++) {
                double s = b == null ? 0 : b.d[o];
                for (int i = 0; i < in; i++) s += x.d[r * in + i] * w.d[o * in + i];
                y.d[r * out + o] = s;
            }
        }
        return y;
    }

    static Nd reshape(Nd x, int... shape) {
        return new Nd(shape, x.d.clone());
    }

    /** out[i_0..i_r] = x[j] with j[axes[d]] = i_d. */
    static Nd permute(Nd x, int... axes) {
        int[] os = new int[axes.length];
        for (int d = 0; d < axes.length; d++) os[d] = x.shape[axes[d]];
        Nd o = Nd.zeros(os);
        int[] idx = new int[axes.length], src = new int[axes.length];
        for (int f = 0; f < o.d.length; f++) {
            o.index(f, idx);
            for (int d = 0; d < axes.length; d++) src[axes[d]] = idx[d];
            o.d[f] = x.get(src);
        }
        return o;
    }

    static Nd transpose(Nd x, int a, int b) {
        int[] axes = new int[x.rank()];
        for (int d = 0; d < axes.length; d++) axes[d] = d;
        a = axis(a, x.rank());
        b = axis(b, x.rank());
        axes[a] = b;
        axes[b] = a;
        return permute(x, axes);
    }

    static Nd slice(Nd x, int axis, int start, int end) {
        int a = axis(axis, x.rank());
        int[] os = x.shape.clone();
        os[a] = end - start;
        Nd o = Nd.zeros(os);
        int[] idx = new int[os.length];
        for (int f = 0; f < o.d.length; f++) {
            o.index(f, idx);
            idx[a] += start;
            o.d[f] = x.get(idx);
        }
        return o;
    }

    static Nd pad(Nd x, int axis, int start, int len) {
        int a = axis(axis, x.rank());
        int[] os = x.shape.clone();
        os[a] = len;
        Nd o = Nd.zeros(os);
        int[] idx = new int[os.length];
        for (int f = 0; f < x.d.length; f++) {
            x.index(f, idx);
            idx[a] += start;
            o.set(x.d[f], idx);
        }
        return o;
    }

    static Nd concat(int axis, Nd... xs) {
        int a = axis(axis, xs[0].rank());
        int[] os = xs[0].shape.clone();
        os[a] = 0;
        for (Nd x : xs) os[a] += x.shape[a];
        Nd o = Nd.zeros(os);
        int start = 0;
        for (Nd x : xs) {
            for (int f = 0; f < x.d.length; f++) {
                int[] idx = x.index(f);
                idx[a] += start;
                o.set(x.d[f], idx);
            }
            start += x.shape[a];
        }
        return o;
    }

    /** Rows of table [V, D] at ids: result [..idsShape, D]. */
    static Nd embedding(Nd table, int[] ids, int[] idsShape) {
        int dim = table.shape[1];
        int[] os = Arrays.copyOf(idsShape, idsShape.length + 1);
        os[idsShape.length] = dim;
        Nd o = Nd.zeros(os);
        for (int r = 0; r < ids.length; r++) for (int j = 0; j < dim; j++) o.d[r * dim + j] = table.get(ids[r], j);
        return o;
    }

    /** out [rows, D] with out[ids[r]] += g[r]. */
    static Nd scatterAddRows(Nd g, int[] ids, int rows) {
        int dim = g.shape[g.rank() - 1];
        Nd o = Nd.zeros(rows, dim);
        for (int r = 0; r < ids.length; r++) for (int j = 0; j < dim; j++) o.add(g.d[r * dim + j], ids[r], j);
        return o;
    }

    /** Softmax over the last axis; -inf entries get probability 0. */
    static Nd softmax(Nd x) {
        int n = x.shape[x.rank() - 1];
        Nd o = Nd.zeros(x.shape);
        for (int r = 0; r < x.d.length / n; r++) {
            double max = Double.NEGATIVE_INFINITY, s = 0;
            for (int j = 0; j < n; j++) max = Math.max(max, x.d[r * n + j]);
            for (int j = 0; j < n; j++) s += Math.exp(x.d[r * n + j] - max);
            for (int j = 0; j < n; j++) o.d[r * n + j] = Math.exp(x.d[r * n + j] - max) / s;
        }
        return o;
    }

    static Nd logSoftmax(Nd x) {
        int n = x.shape[x.rank() - 1];
        Nd o = Nd.zeros(x.shape);
        for (int r = 0; r < x.d.length / n; r++) {
            double max = Double.NEGATIVE_INFINITY, s = 0;
            for (int j = 0; j < n; j++) max = Math.max(max, x.d[r * n + j]);
            for (int j = 0; j < n; j++) s += Math.exp(x.d[r * n + j] - max);
            double lse = max + Math.log(s);
            for (int j = 0; j < n; j++) o.d[r * n + j] = x.d[r * n + j] - lse;
        }
        return o;
    }

    /** (x - mean) / sqrt(biased var + eps) * w + b over the last axis; w and b may be null. */
    static Nd layerNorm(Nd x, Nd w, Nd b, double eps) {
        int n = x.shape[x.rank() - 1];
        Nd o = Nd.zeros(x.shape);
        for (int r = 0; r < x.d.length / n; r++) {
            double mu = 0, var = 0;
            for (int j = 0; j < n; j++) mu += x.d[r * n + j];
            mu /= n;
            for (int j = 0; j < n; j++) var += (x.d[r * n + j] - mu) * (x.d[r * n + j] - mu);
            var /= n;
            double rs = 1 / Math.sqrt(var + eps);
            for (int j = 0; j < n; j++) {
                double y = (x.d[r * n + j] - mu) * rs;
                o.d[r * n + j] = y * (w == null ? 1 : w.d[j]) + (b == null ? 0 : b.d[j]);
            }
        }
        return o;
    }

    static double gelu(double x) {
        return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
    }

    static Nd gelu(Nd x) {
        return map(x, Ref::gelu);
    }

    /** Mean over non-ignored rows of logsumexp(x_r) - x_r[t_r]; 0 when every row is ignored. */
    static Nd crossEntropy(Nd logits, int[] targets, int ignoreIndex) {
        Nd lp = logSoftmax(logits);
        int n = logits.shape[logits.rank() - 1], counted = 0;
        double s = 0;
        for (int r = 0; r < targets.length; r++) {
            if (targets[r] == ignoreIndex) continue;
            s -= lp.d[r * n + targets[r]];
            counted++;
        }
        return new Nd(new int[0], new double[]{counted == 0 ? 0 : s / counted});
    }

    /** Entries with column > row in the last two axes replaced by {@code value}. */
    static Nd causalMask(Nd x, double value) {
        Nd o = Nd.zeros(x.shape);
        int r = x.rank();
        int[] idx = new int[r];
        for (int f = 0; f < x.d.length; f++) {
            x.index(f, idx);
            o.d[f] = idx[r - 1] > idx[r - 2] ? value : x.d[f];
        }
        return o;
    }

    static Nd maskScale(Nd x, boolean[] keep, double scale) {
        Nd o = Nd.zeros(x.shape);
        for (int i = 0; i < x.d.length; i++) o.d[i] = keep[i] ? x.d[i] * scale : 0;
        return o;
    }
}
