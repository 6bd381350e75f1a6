package dev.memwall.kernels;

/**
 * Elementwise arithmetic over heap arrays, with NumPy broadcasting. Each op has its own inner loop (no virtual call
 * per element) so that the JIT can vectorize it, and add, multiply and affine over contiguous runs go through
 * {@link KernelBodies} (explicit SIMD when the Vector API is in use); rows of the broadcast output are split over the
 * cores.
 */
public final class Elementwise {
    private static final KernelBodies K = Vectorization.bodies();

    private Elementwise() {
    }

    public enum Binary { ADD, SUB, MUL, DIV }

    public enum Unary { EXP, LOG, TANH, NEG }

    public static void addInPlace(float[] acc, int offAcc, float[] x, int offX, int n) {
        Parallel.range(n, 1, (from, to) -> K.add(acc, offAcc + from, x, offX + from, acc, offAcc + from, to - from));
    }

    /** out = a op b where a, b are broadcast to {@code outShape} with the given element strides (0 on broadcast axes). */
    public static void binary(Binary op, float[] a, int offA, int[] stridesA, float[] b, int offB, int[] stridesB,
                              float[] out, int offOut, int[] outShape) {
        int r = outShape.length;
        int inner = r == 0 ? 1 : outShape[r - 1];
        int rows = inner == 0 ? 0 : (int) (count(outShape) / inner);
        int sa = r == 0 ? 0 : stridesA[r - 1], sb = r == 0 ? 0 : stridesB[r - 1];
        if (rows == 1 || allContiguous(stridesA, stridesB, outShape)) { // one flat run: split it over the cores directly
            int n = rows * inner;
            boolean flat = rows > 1;
            int fa = flat ? 1 : sa, fb = flat ? 1 : sb;
            Parallel.range(n, 1, (from, to) -> row(op, a, offA + from * fa, fa, b, offB + from * fb, fb, out, offOut + from, to - from));
            return;
        }
        Parallel.range(rows, inner, (from, to) -> {
            for (int row = from; row < to; row++) {
                int ia = offA, ib = offB, rem = row;
                for (int d = r - 2; d >= 0; d--) {
                    int idx = rem % outShape[d];
                    rem /= outShape[d];
                    ia += idx * stridesA[d];
                    ib += idx * stridesB[d];
                }
                row(op, a, ia, sa, b, ib, sb, out, offOut + row * inner, inner);
            }
        });
    }

    private static boolean allContiguous(int[] sa, int[] sb, int[] shape) {
        int s = 1;
        for (int d = shape.length - 1; d >= 0; d--) {
            if (shape[d] != 1 && (sa[d] != s || sb[d] != s)) return false;
            s *= shape[d];
        }
        return true;
    }

    private static long count(int[] shape) {
        long n = 1;
        for (int d : shape) n *= d;
        return n;
    }

    private static void row(Binary op, float[] a, int ia, int sa, float[] b, int ib, int sb, float[] o, int io, int n) {
        switch (op) {
            case ADD -> {
                if (sa == 1 && sb == 1) K.add(a, ia, b, ib, o, io, n);
                else if (sa == 1) { float y = b[ib]; for (int j = 0; j < n; j++) o[io + j] = a[ia + j] + y; }
                else if (sb == 1) { float x = a[ia]; for (int j = 0; j < n; j++) o[io + j] = x + b[ib + j]; }
                else { float v = a[ia] + b[ib]; for (int j = 0; j < n; j++) o[io + j] = v; }
            }
            case SUB -> {
                if (sa == 1 && sb == 1) for (int j = 0; j < n; j++) o[io + j] = a[ia + j] - b[ib + j];
                else if (sa == 1) { float y = b[ib]; for (int j = 0; j < n; j++) o[io + j] = a[ia + j] - y; }
                else if (sb == 1) { float x = a[ia]; for (int j = 0; j < n; j++) o[io + j] = x - b[ib + j]; }
                else { float v = a[ia] - b[ib]; for (int j = 0; j < n; j++) o[io + j] = v; }
            }
            case MUL -> {
                if (sa == 1 && sb == 1) K.mul(a, ia, b, ib, o, io, n);
                else if (sa == 1) { float y = b[ib]; for (int j = 0; j < n; j++) o[io + j] = a[ia + j] * y; }
                else if (sb == 1) { float x = a[ia]; for (int j = 0; j < n; j++) o[io + j] = x * b[ib + j]; }
                else { float v = a[ia] * b[ib]; for (int j = 0; j < n; j++) o[io + j] = v; }
            }
            case DIV -> {
                if (sa == 1 && sb == 1) for (int j = 0; j < n; j++) o[io + j] = a[ia + j] / b[ib + j];
                else if (sa == 1) { float y = b[ib]; for (int j = 0; j < n; j++) o[io + j] = a[ia + j] / y; }
                else if (sb == 1) { float x = a[ia]; for (int j = 0; j < n; j++) o[io + j] = x / b[ib + j]; }
                else { float v = a[ia] / b[ib]; for (int j = 0; j < n; j++) o[io + j] = v; }
            }
        }
    }

    public static void unary(Unary op, float[] x, int offX, float[] out, int offOut, int n) {
        Parallel.range(n, op == Unary.NEG ? 1 : 8, (from, to) -> {
            switch (op) {
                case EXP -> { for (int i = from; i < to; i++) out[offOut + i] = (float) Math.exp(x[offX + i]); }
                case LOG -> { for (int i = from; i < to; i++) out[offOut + i] = (float) Math.log(x[offX + i]); }
                case TANH -> { for (int i = from; i < to; i++) out[offOut + i] = tanh(x[offX + i]); }
                case NEG -> { for (int i = from; i < to; i++) out[offOut + i] = -x[offX + i]; }
            }
        });
    }

    /** out = x * scale + shift. */
    public static void affine(float[] x, int offX, float scale, float shift, float[] out, int offOut, int n) {
        Parallel.range(n, 1, (from, to) -> K.affine(x, offX + from, scale, shift, out, offOut + from, to - from));
    }

    /** out = x ^ p (float power; p = 0.5, -0.5, 2 and 3 take exact fast paths). */
    public static void pow(float[] x, int offX, float p, float[] out, int offOut, int n) {
        Parallel.range(n, 8, (from, to) -> {
            if (p == 2f) for (int i = from; i < to; i++) { float v = x[offX + i]; out[offOut + i] = v * v; }
            else if (p == 3f) for (int i = from; i < to; i++) { float v = x[offX + i]; out[offOut + i] = v * v * v; }
            else if (p == 1f) System.arraycopy(x, offX + from, out, offOut + from, to - from);
            else if (p == 0.5f) for (int i = from; i < to; i++) out[offOut + i] = (float) Math.sqrt(x[offX + i]);
            else if (p == -0.5f) for (int i = from; i < to; i++) out[offOut + i] = (float) (1.0 / Math.sqrt(x[offX + i]));
            else for (int i = from; i < to; i++) out[offOut + i] = (float) Math.pow(x[offX + i], p);
        });
    }

    /** tanh by {@link RationalTanh}, within 4e-7 of the exact value over all floats. */
    public static float tanh(float u) {
        return RationalTanh.tanh(u);
    }
}
