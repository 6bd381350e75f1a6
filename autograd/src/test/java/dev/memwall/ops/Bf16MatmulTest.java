package dev.memwall.ops;

import dev.memwall.autograd.DType;
import dev.memwall.autograd.Scope;
import dev.memwall.autograd.Tensor;
import dev.memwall.format.Bf16;
import dev.memwall.kernels.Gemm;
import dev.memwall.memory.Category;
import dev.memwall.memory.MemoryTracker;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

/**
 * Linear and matmul with two BF16 operands (what autocast hands them) on a BF16 GEMM that runs in place: the operands
 * go to {@code Gemm.sbgemm} as they are, so no FP32 copy of either is made (TEMPORARY holds only the output), and the
 * result is the BF16 products summed in FP32 (checked against double within (k + 4)·2⁻²⁴·Σ|a·b|).
 */
class Bf16MatmulTest {
    private static Tensor bf16(long seed, int... shape) {
        float[] x = new float[dev.memwall.autograd.Shape.numel(shape)];
        java.util.Random r = new java.util.Random(seed);
        for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
        return Tensor.of(x, shape).to(DType.BF16);
    }

    /** C[i][j] of op(a)·op(b) in double, with its bound, compared with {@code got}. */
    private static void check(Tensor a, Tensor b, boolean ta, boolean tb, int m, int n, int k, float[] got) {
        short[] as = a.shortData(), bs = b.shortData();
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                double s = 0, abs = 0;
                for (int p = 0; p < k; p++) {
                    double x = Bf16.toFloat(as[a.offset() + (ta ? p * m + i : i * k + p)]);
                    double y = Bf16.toFloat(bs[b.offset() + (tb ? j * k + p : p * n + j)]);
                    s += x * y;
                    abs += Math.abs(x * y);
                }
                assertThat((double) got[i * n + j]).isCloseTo(s, within((k + 4) * 0x1p-24 * abs + Float.MIN_NORMAL));
            }
        }
    }

    @Test
    void linearAndWeightGradientTakeBf16OperandsWithoutFp32Copies() {
        Assumptions.assumeTrue(Gemm.sbgemmInPlace(), "BF16 GEMMs decode to FP32 on this machine");
        MemoryTracker tracker = new MemoryTracker();
        try (var installed = MemoryTracker.install(tracker); Scope scope = Scope.open()) {
            Tensor x = bf16(1, 5, 7, 33), w = bf16(2, 17, 33), g = bf16(3, 35, 17);
            tracker.resetPeaks();
            long before = tracker.current(Category.TEMPORARY);
            Tensor y = F.linear(x, w, null);
            assertThat(tracker.peak(Category.TEMPORARY) - before).as("only the output, no decoded x or W")
                    .isEqualTo(4L * 35 * 17);
            check(x, w, false, true, 35, 17, 33, y.data());
            tracker.resetPeaks();
            Tensor x2 = bf16(4, 35, 33);
            long before2 = tracker.current(Category.TEMPORARY);
            Tensor dw = F.matmul(g, x2, true, false); // dW = gᵀ·x, [17, 33]
            assertThat(tracker.peak(Category.TEMPORARY) - before2).isEqualTo(4L * 17 * 33);
            check(g, x2, true, false, 17, 33, 35, dw.data());
        }
    }
}
