package dev.memwall.optim;

import dev.memwall.autograd.Scope;
import dev.memwall.autograd.Tensor;
import dev.memwall.nn.FlatParameters;
import dev.memwall.nn.Module;
import dev.memwall.ops.F;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Hutchinson's estimate of diag(H) from memwall's Hessian-vector products on a small MLP, against the exact diagonal
 * from central second differences of an independent double-precision implementation of the same loss.
 */
class HutchinsonTest {
    private static final int IN = 3, HID = 4, OUT = 2, ROWS = 3;

    /** ½·mean over rows of ‖W2·tanh(W1·x + b1) + b2 − y‖². */
    static final class Mlp extends Module {
        Mlp(float[] theta) {
            int o = 0;
            param("w1", Tensor.of(java.util.Arrays.copyOfRange(theta, o, o += HID * IN), HID, IN));
            param("b1", Tensor.of(java.util.Arrays.copyOfRange(theta, o, o += HID), HID));
            param("w2", Tensor.of(java.util.Arrays.copyOfRange(theta, o, o += OUT * HID), OUT, HID));
            param("b2", Tensor.of(java.util.Arrays.copyOfRange(theta, o, o + OUT), OUT));
        }

        Tensor loss(float[] x, float[] y) {
            Tensor h = F.tanh(F.linear(Tensor.of(x, ROWS, IN), p("w1"), p("b1")));
            Tensor r = F.sub(F.linear(h, p("w2"), p("b2")), Tensor.of(y, ROWS, OUT));
            return F.mulScalar(F.sumAll(F.mul(r, r)), 0.5f / ROWS);
        }
    }

    static double referenceLoss(double[] t, float[] x, float[] y) {
        int w1 = 0, b1 = HID * IN, w2 = b1 + HID, b2 = w2 + OUT * HID;
        double sum = 0;
        for (int r = 0; r < ROWS; r++) {
            double[] h = new double[HID];
            for (int j = 0; j < HID; j++) {
                double a = t[b1 + j];
                for (int i = 0; i < IN; i++) a += t[w1 + j * IN + i] * x[r * IN + i];
                h[j] = Math.tanh(a);
            }
            for (int k = 0; k < OUT; k++) {
                double o = t[b2 + k] - y[r * OUT + k];
                for (int j = 0; j < HID; j++) o += t[w2 + k * HID + j] * h[j];
                sum += o * o;
            }
        }
        return 0.5 * sum / ROWS;
    }

    @Test
    void estimateConvergesToTheExactDiagonalWithErrorFallingAsOneOverRootN() {
        Random rnd = new Random(4);
        int n = HID * IN + HID + OUT * HID + OUT;
        float[] theta = new float[n], x = new float[ROWS * IN], y = new float[ROWS * OUT];
        for (int i = 0; i < n; i++) theta[i] = (float) (0.8 * rnd.nextGaussian());
        for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian();
        for (int i = 0; i < y.length; i++) y[i] = (float) rnd.nextGaussian();

        double[] exact = new double[n], t = new double[n];
        for (int i = 0; i < n; i++) t[i] = theta[i];
        double h = 1e-4, l0 = referenceLoss(t, x, y);
        for (int j = 0; j < n; j++) {
            t[j] = theta[j] + h;
            double up = referenceLoss(t, x, y);
            t[j] = theta[j] - h;
            double down = referenceLoss(t, x, y);
            t[j] = theta[j];
            exact[j] = (up - 2 * l0 + down) / (h * h);
        }

        int draws = 4096;
        double[][] samples = new double[draws][];
        Mlp model = new Mlp(theta);
        FlatParameters p = model.flatten();
        try (Scope s = Scope.open()) {
            model.loss(x, y).backward(Tensor.scalar(1f), false, true);
            for (int d = 0; d < draws; d++) {
                float[] z = Hutchinson.rademacher(9, d, p.count(), p.length()), sums = new float[p.length()];
                Hutchinson.accumulate(p, model.parameters(), z, 1, true, sums);
                samples[d] = new double[n];
                for (int i = 0; i < n; i++) samples[d][i] = sums[i];
            }
        }
        double exactNorm = norm(exact);
        // mean squared relative error of the n-draw mean, over the 4096/n disjoint groups: ∝ 1/n, so error ∝ 1/√n
        int[] sizes = {4, 16, 64, 256};
        double[] rms = new double[sizes.length];
        for (int si = 0; si < sizes.length; si++) {
            int size = sizes[si], groups = draws / size;
            double mse = 0;
            for (int g = 0; g < groups; g++) {
                double[] err = new double[n];
                for (int d = g * size; d < (g + 1) * size; d++) for (int i = 0; i < n; i++) err[i] += samples[d][i] / size;
                for (int i = 0; i < n; i++) err[i] -= exact[i];
                mse += Math.pow(norm(err) / exactNorm, 2) / groups;
            }
            rms[si] = Math.sqrt(mse);
        }
        for (int si = 1; si < sizes.length; si++) {
            // each fourfold increase of n halves the error (within sampling noise of the groups)
            assertThat(rms[si - 1] / rms[si]).as("error at n=%d over n=%d: %s", sizes[si - 1], sizes[si], java.util.Arrays.toString(rms))
                    .isBetween(1.5, 2.7);
        }
        double[] all = new double[n];
        for (double[] sample : samples) for (int i = 0; i < n; i++) all[i] += sample[i] / draws;
        for (int i = 0; i < n; i++) all[i] -= exact[i];
        assertThat(norm(all) / exactNorm).isLessThan(2 * rms[0] / Math.sqrt(draws / 4.0));
    }

    private static double norm(double[] a) {
        double s = 0;
        for (double v : a) s += v * v;
        return Math.sqrt(s);
    }
}
