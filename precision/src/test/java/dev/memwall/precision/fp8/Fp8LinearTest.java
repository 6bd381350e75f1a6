package dev.memwall.precision.fp8;

import dev.memwall.autograd.Engine;
import dev.memwall.autograd.Scope;
import dev.memwall.autograd.Tensor;
import dev.memwall.memory.Category;
import dev.memwall.memory.MemoryTracker;
import dev.memwall.ops.F;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The FP8 linear op: its GEMM against exact FP8 products, its gradients against FP32's, its saved bytes. */
class Fp8LinearTest {
    static final List<Fp8Recipe> RECIPES = List.of(new DelayedScaling(), new CurrentScaling(), new Mxfp8BlockScaling(),
            new BlockScaling(Format.HYBRID, 16)); // 16: several tiles in this small MLP

    @Test
    void gemmIsFp8ProductsAccumulatedInFp32() {
        int m = 24, n = 20, k = 96;
        float[] a = Fp8Reference.data(1, m * k, 1f), b = Fp8Reference.data(2, n * k, 0.1f);
        try (Scope s = Scope.open()) {
            for (boolean mx : new boolean[]{false, true}) {
                Tiling t = mx ? Mxfp8BlockScaling.rowwise() : Tiling.PER_TENSOR;
                ScaleRule rule = mx ? ScaleRule.E8M0_UP : ScaleRule.CURRENT;
                Fp8Tensor qa = Fp8Quantizer.tiled(Tensor.of(a, m, k), Fp8Format.E4M3, t, rule);
                Fp8Tensor qb = Fp8Quantizer.tiled(Tensor.of(b, n, k), Fp8Format.E5M2, t, rule);
                float[] c = new float[m * n];
                Fp8Gemm.matmul(qa, false, qb, true, m, n, k, c, 0);
                for (int i = 0; i < m; i++) {
                    for (int j = 0; j < n; j++) {
                        double exact = 0, magnitude = 0;
                        for (int p = 0; p < k; p++) {
                            double va = qa.format().decode(qa.codes().byteData()[i * k + p]) / qa.multiplier(mx ? i : 0, mx ? p / 32 : 0);
                            double vb = qb.format().decode(qb.codes().byteData()[j * k + p]) / qb.multiplier(mx ? j : 0, mx ? p / 32 : 0);
                            exact += va * vb;
                            magnitude += Math.abs(va * vb);
                        }
                        // Products exact; k FP32 additions and one scaling, each within 2^-24 relative.
                        assertThat((double) c[i * n + j]).as("c[%d,%d] mx=%s", i, j, mx).isCloseTo(exact,
                                org.assertj.core.api.Assertions.within((k + 1) * 0x1p-24 * magnitude + Math.ulp((float) exact)));
                    }
                }
            }
        }
    }

    /** A two-layer MLP's tensors, made outside any scope so they outlive the steps that use them. */
    private static final class Mlp {
        final Tensor x = Tensor.of(Fp8Reference.data(21, 32 * 48, 1f), 32, 48).requiresGrad(true);
        final Tensor w1 = Tensor.of(Fp8Reference.data(22, 64 * 48, (float) (1 / Math.sqrt(48))), 64, 48).requiresGrad(true);
        final Tensor b1 = Tensor.of(Fp8Reference.data(23, 64, 0.1f), 64).requiresGrad(true);
        final Tensor w2 = Tensor.of(Fp8Reference.data(24, 10 * 64, (float) (1 / Math.sqrt(64))), 10, 64).requiresGrad(true);
        final Tensor b2 = Tensor.of(Fp8Reference.data(25, 10, 0.1f), 10).requiresGrad(true);
        final Tensor r = Tensor.of(Fp8Reference.data(26, 32 * 10, 1f), 32, 10);

        /** Gradients of sum(r · (gelu(x·W1ᵀ + b1)·W2ᵀ + b2)) w.r.t. x, W1, b1, W2, b2; FP8 GEMMs when state is given. */
        float[][] gradients(Fp8State state) {
            Tensor[] leaves = {x, w1, b1, w2, b2};
            for (Tensor t : leaves) t.zeroGrad();
            try (Scope s = Scope.open()) {
                Tensor h = state == null ? F.linear(x, w1, b1) : Fp8Linear.linear(x, w1, b1, state);
                h = h.gelu();
                Tensor y = state == null ? F.linear(h, w2, b2) : Fp8Linear.linear(h, w2, b2, state);
                y.mul(r).sum().backward();
                float[][] g = new float[leaves.length][];
                for (int i = 0; i < leaves.length; i++) g[i] = leaves[i].grad().toFloatArray();
                return g;
            }
        }
    }

    static double relativeError(float[] got, float[] want) {
        double d = 0, n = 0;
        for (int i = 0; i < want.length; i++) {
            d += Math.pow((double) got[i] - want[i], 2);
            n += Math.pow(want[i], 2);
        }
        return Math.sqrt(d / n);
    }

    @Test
    void mlpGradientsAreCloseToFp32UnderEveryRecipe() {
        Mlp mlp = new Mlp();
        float[][] fp32 = mlp.gradients(null);
        String[] names = {"x", "W1", "b1", "W2", "b2"};
        for (Fp8Recipe recipe : RECIPES) {
            Fp8State state = new Fp8State(recipe);
            if (recipe instanceof DelayedScaling) mlp.gradients(state); // one step to fill the histories, as in training
            float[][] fp8 = mlp.gradients(state);
            for (int g = 0; g < names.length; g++) {
                // E5M2 keeps 2 mantissa bits: relative rounding error up to 2^-3, RMS 2^-3/√3 ≈ 7%; E4M3 half that. Each
                // gradient passes through one or two quantized GEMMs: 5-9% measured here, 15% asserted.
                assertThat(relativeError(fp8[g], fp32[g])).as("%s: d%s", recipe.name(), names[g]).isLessThan(0.15);
            }
        }
    }

    @Test
    void savedTensorsAreFp8BytesCountedAsActivation() {
        MemoryTracker tracker = new MemoryTracker();
        int rows = 16, in = 64, out = 32;
        for (Fp8Recipe recipe : RECIPES) {
            try (var installed = MemoryTracker.install(tracker); Scope s = Scope.open()) {
                Tensor x = Tensor.of(Fp8Reference.data(1, rows * in, 1f), rows, in).requiresGrad(true);
                Tensor w = Tensor.of(Fp8Reference.data(2, out * in, 0.1f), out, in).requiresGrad(true);
                long before = tracker.current(Category.ACTIVATION);
                Tensor y = Fp8Linear.linear(x, w, null, new Fp8State(recipe));
                long codes = (long) rows * in + (long) out * in; // one byte each, vs 4 for FP32 inputs saved by F.linear
                long scales = switch (recipe.name()) {
                    case "delayed", "current" -> 4 + 4;
                    case "mxfp8" -> (long) (rows / 32 + 1) * in + (long) (out / 32) * in; // column-wise, E8M0 bytes
                    default -> 4L * (1 * in + 2 * 4); // tile 16: x as 16×1 tiles, W as 16×16 blocks
                };
                assertThat(tracker.current(Category.ACTIVATION) - before).as(recipe.name()).isEqualTo(codes + scales);
                y.sum().backward();
                assertThat(tracker.current(Category.ACTIVATION)).as("released by backward").isEqualTo(before);
            }
        }
    }

    @Test
    void delayedScalingKeepsOneHistoryPerRolePerLayerAndRecordsOncePerStep() {
        Fp8State state = new Fp8State(new DelayedScaling());
        Mlp mlp = new Mlp();
        mlp.gradients(state);
        mlp.gradients(state);
        assertThat(state.toArrays().keySet()).containsExactly("gemm0.input", "gemm0.weight", "gemm1.input", "gemm1.weight",
                "gemm1.grad_output", "gemm0.grad_output");
        for (String key : state.toArrays().keySet()) {
            String[] p = key.split("\\.");
            TensorRole role = p[1].equals("input") ? TensorRole.INPUT : p[1].equals("weight") ? TensorRole.WEIGHT : TensorRole.GRAD_OUTPUT;
            assertThat(state.history(p[0], role).history()).as(key).hasSize(2);
        }
        assertThat(state.history("gemm0", TensorRole.WEIGHT).reducedAmax()).isEqualTo(Fp8Quantizer.amax(mlp.w1));
    }

    @Test
    void secondOrderIsRefused() {
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.of(Fp8Reference.data(1, 64, 1f), 2, 32).requiresGrad(true);
            Tensor w = Tensor.of(Fp8Reference.data(2, 64, 1f), 2, 32).requiresGrad(true);
            Tensor loss = Fp8Linear.linear(x, w, null, new Fp8State(new CurrentScaling())).sum();
            assertThatThrownBy(() -> Engine.grad(loss, x, true))
                    .isInstanceOf(UnsupportedOperationException.class).hasMessageContaining("second-order");
        }
    }
}
