package dev.memwall.precision;

import dev.memwall.autograd.Scope;
import dev.memwall.autograd.Tensor;
import dev.memwall.nn.Linear;
import dev.memwall.rng.Rng;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Why FP16 needs loss scaling, on a constructed case: a regression whose loss is multiplied by 2^-24, so the gradient
 * reaching the layer's output is about 2^-29 per element — below FP16's smallest subnormal (2^-24). Under FP16
 * autocast the backward GEMM casts that gradient to FP16, where it is 0: the weight gradient is exactly zero and the
 * layer never learns. With dynamic loss scaling (2^16) the same gradient is about 2^-13, representable; unscaled in
 * FP32 afterwards, it trains as FP32 does.
 */
class Fp16UnderflowTest {
    private static final int ROWS = 64, IN = 8, STEPS = 30;
    private static final float C = 0x1p-24f, LR = 0.1f / C;

    /** Mean squared error (without the 2^-24) after training, whether any weight gradient was ever nonzero, the first MSE. */
    private static double[] train(GradScaler scaler, boolean fp16) {
        Linear layer = new Linear(IN, 1, false, new Rng(1));
        Tensor x, target;
        try (var keep = Scope.open()) {
            x = keep.keep(Tensor.randn(new Rng(2), 1f, ROWS, IN));
            Tensor wTrue = Tensor.randn(new Rng(3), 1f, 1, IN);
            target = keep.keep(dev.memwall.ops.F.matmul(x, wTrue, false, true));
        }
        double mse = 0, first = 0;
        boolean anyGradient = false;
        for (int step = 0; step <= STEPS; step++) {
            try (Scope s = Scope.open()) {
                Autocast ac = fp16 ? Autocast.fp16() : null;
                try {
                    Tensor diff = layer.forward(x).sub(target);
                    Tensor sq = diff.mul(diff).mean();
                    mse = sq.item();
                    if (step == 0) first = mse;
                    if (step == STEPS) break;
                    sq.mul(C).backward(Tensor.scalar(scaler.scale()), false, false);
                } finally {
                    if (ac != null) ac.close();
                }
                Tensor w = layer.weight();
                float[] g = w.grad().data();
                int off = w.grad().offset();
                for (int i = off; i < off + IN; i++) anyGradient |= g[i] != 0f;
                scaler.step(GradientRanges.of(g, off, off + IN), null, () -> {
                    float[] v = w.data();
                    for (int i = 0; i < IN; i++) v[w.offset() + i] -= LR * g[off + i];
                });
                scaler.update();
                w.zeroGrad();
            }
        }
        return new double[]{mse, anyGradient ? 1 : 0, first};
    }

    @Test
    void fp16WithoutScalingLearnsNothingAndWithDynamicScalingTrainsLikeFp32() {
        double[] fp32 = train(GradScaler.disabled(), false);
        double[] unscaled = train(GradScaler.disabled(), true);
        double[] scaled = train(GradScaler.dynamic(), true);
        double initial = fp32[2];
        assertThat(unscaled[2]).as("the same model and data, FP16 operands").isCloseTo(initial, org.assertj.core.data.Offset.offset(1e-2 * initial));
        assertThat(fp32[0]).as("FP32 learns").isLessThan(1e-2 * initial);
        assertThat(unscaled[1]).as("FP16 without scaling: every weight gradient underflowed to 0").isZero();
        assertThat(unscaled[0]).as("so the loss never moved").isEqualTo(unscaled[2]);
        assertThat(scaled[1]).isOne();
        assertThat(scaled[0]).as("FP16 with dynamic scaling learns").isLessThan(1e-2 * initial);
    }
}
