package dev.memwall.ops;

import dev.memwall.autograd.DType;
import dev.memwall.autograd.Scope;
import dev.memwall.autograd.Tensor;
import dev.memwall.format.Bf16;
import dev.memwall.format.Fp16;
import dev.memwall.format.Overflow;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The differentiable cast: the gradient flows back through it, cast to the source's format, checked against central
 * finite differences in double. Rounding is piecewise constant, so through a cast to a 16-bit format the gradient is
 * the straight-through one: that of the rest of the function at the rounded point, which the differences measure,
 * rounded to the low format on its way back (the gradient of a BF16 tensor is BF16, as in PyTorch).
 */
class CastGradientTest {
    private static final int N = 37;

    /** f(u) = Σ c·tanh(u) in double, and its central difference at u along coordinate k. */
    private static double f(double[] u, double[] c) {
        double s = 0;
        for (int i = 0; i < u.length; i++) s += c[i] * Math.tanh(u[i]);
        return s;
    }

    private static double[] fdGradient(double[] u, double[] c) {
        double[] g = new double[u.length];
        for (int k = 0; k < u.length; k++) {
            double h = 1e-6 * Math.max(1, Math.abs(u[k])), keep = u[k];
            u[k] = keep + h;
            double plus = f(u, c);
            u[k] = keep - h;
            double minus = f(u, c);
            u[k] = keep;
            g[k] = (plus - minus) / (2 * h);
        }
        return g;
    }

    private static double relError(float[] got, double[] want) {
        double num = 0, den = 0;
        for (int i = 0; i < got.length; i++) {
            num += (got[i] - want[i]) * (got[i] - want[i]);
            den += want[i] * want[i];
        }
        return Math.sqrt(num / den);
    }

    /** The gradient of Σ c·tanh(cast(cast(x, low), FP32)) with respect to x, through both casts. */
    private static void check(DType low) {
        Random r = new Random(11 + low.ordinal());
        float[] xs = new float[N], cs = new float[N];
        for (int i = 0; i < N; i++) {
            xs[i] = (float) (2 * r.nextGaussian());
            cs[i] = (float) r.nextGaussian();
        }
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.of(xs, N).requiresGrad(true);
            Tensor c = Tensor.of(cs, N);
            Tensor down = F.cast(x, low), up = F.cast(down, DType.FP32);
            assertThat(down.dtype()).isEqualTo(low);
            assertThat(down.gradFn()).as("a cast records a node").isNotNull();
            Tensor loss = up.tanh().mul(c).sum();
            loss.backward();
            double[] u = new double[N], cd = new double[N];
            for (int i = 0; i < N; i++) {
                u[i] = low == DType.FP32 ? xs[i] : low == DType.BF16
                        ? Bf16.toFloat(Bf16.fromFloat(xs[i], Overflow.NON_SATURATE))
                        : Fp16.toFloat(Fp16.fromFloat(xs[i], Overflow.NON_SATURATE));
                cd[i] = cs[i];
            }
            float[] grad = x.grad().toFloatArray();
            double[] fd = fdGradient(u, cd);
            if (low == DType.FP32) {
                assertThat(relError(grad, fd)).as("gradient through an FP32 cast").isLessThan(1e-4);
                return;
            }
            // d/d(down) arrives in down's format: the FP32 gradient rounded to it, within half an ulp of the format
            // (relative 2^-8 for BF16's 8 significand bits, 2^-11 for FP16's 11) plus the differences' own error.
            double halfUlp = low == DType.BF16 ? 0x1p-8 : 0x1p-11;
            for (int i = 0; i < N; i++) {
                assertThat(Math.abs(grad[i] - fd[i])).as("element " + i + " through " + low)
                        .isLessThanOrEqualTo(halfUlp * Math.abs(fd[i]) + 1e-6);
            }
            assertThat(relError(grad, fd)).isLessThan(halfUlp);
        }
    }

    @Test
    void gradientFlowsThroughAnFp32Cast() {
        check(DType.FP32);
    }

    @Test
    void gradientFlowsThroughBf16AndBackStraightThrough() {
        check(DType.BF16);
    }

    @Test
    void gradientFlowsThroughFp16AndBackStraightThrough() {
        check(DType.FP16);
    }

    @Test
    void theGradientOfALowPrecisionSourceIsCastToItsFormat() {
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.of(new float[]{1f, 2f, 3f}, 3).requiresGrad(true);
            Tensor half = F.cast(x, DType.FP16);
            Tensor up = F.cast(half, DType.FP32);
            Tensor[] g = dev.memwall.autograd.Engine.grad(new Tensor[]{up.mul(1e5f).sum()}, new Tensor[]{half}, null, false, false, false);
            assertThat(g[0].dtype()).as("d/d(half) arrives in half's format").isEqualTo(DType.FP16);
            assertThat(g[0].toFloatArray()).containsOnly(Float.POSITIVE_INFINITY); // 1e5 overflows FP16: kept infinite
        }
    }

    @Test
    void anIntegerTensorIsRefused() {
        try (Scope s = Scope.open()) {
            Tensor ids = Tensor.ints(new int[]{1, 2});
            assertThatThrownBy(() -> F.cast(ids, DType.BF16)).hasMessageContaining("INT32");
        }
    }
}
