package dev.memwall.kernels;

/** Mean cross-entropy of logits [rows, n] against integer targets, fused with its gradient. */
public final class CrossEntropyKernel {
    private static final KernelBodies K = Vectorization.bodies();

    private CrossEntropyKernel() {
    }

    /** Returns mean over rows of logsumexp(x_r) - x_r[t_r]; a target of {@code ignoreIndex} contributes nothing. */
    public static float forward(float[] x, int offX, int[] t, int offT, int rows, int n, int ignoreIndex) {
        double[] partial = new double[rows];
        int counted = checkTargets(t, offT, rows, n, ignoreIndex);
        Parallel.range(rows, 3L * n, (from, to) -> {
            for (int r = from; r < to; r++) {
                int tr = t[offT + r];
                if (tr == ignoreIndex) continue;
                int xi = offX + r * n;
                partial[r] = Softmax.logSumExp(x, xi, n) - x[xi + tr];
            }
        });
        double s = 0;
        for (double p : partial) s += p;
        return counted == 0 ? 0f : (float) (s / counted);
    }

    /** dx = (softmax(x) - onehot(t)) * scale / counted. */
    public static void backward(float[] x, int offX, int[] t, int offT, int rows, int n, int ignoreIndex, float scale,
                                float[] dx, int offDx) {
        int counted = checkTargets(t, offT, rows, n, ignoreIndex);
        float s = counted == 0 ? 0f : scale / counted;
        Parallel.range(rows, 3L * n, (from, to) -> {
            for (int r = from; r < to; r++) {
                int xi = offX + r * n, di = offDx + r * n, tr = t[offT + r];
                if (tr == ignoreIndex) {
                    java.util.Arrays.fill(dx, di, di + n, 0f);
                    continue;
                }
                // softmax(x)·s in one pass of exp: e^(x − max), scaled by s over their sum
                float f = s / K.expSum(x, xi, 1f, Softmax.rowMax(x, xi, n), dx, di, n);
                K.scale(dx, di, n, f);
                dx[di + tr] -= s;
            }
        });
    }

    private static int checkTargets(int[] t, int offT, int rows, int n, int ignoreIndex) {
        int counted = 0;
        for (int r = 0; r < rows; r++) {
            int tr = t[offT + r];
            if (tr == ignoreIndex) continue;
            if (tr < 0 || tr >= n) throw new IndexOutOfBoundsException("cross_entropy: target " + tr + " at row " + r + " outside [0, " + n + ")");
            counted++;
        }
        return counted;
    }
}
