package dev.memwall.checkpoint;

import dev.memwall.autograd.DType;
import dev.memwall.autograd.Scope;
import dev.memwall.autograd.Tensor;
import dev.memwall.nn.FlatParameters;
import dev.memwall.nn.Gpt;
import dev.memwall.nn.GptConfig;
import dev.memwall.rng.Rng;
import dev.memwall.rop.GemmFormats;
import dev.memwall.testing.GptHvp;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The fused pass with BF16 tangent GEMMs ({@code --hessian-dtype bf16}): the gradient is bit for bit the FP32 pass's,
 * H·z is within BF16 operand rounding of the FP32 pass's (and not equal to it: the BF16 GEMMs did run), and a
 * Hutchinson estimate of diag(H) from it converges to the exact diagonal as the FP32 estimate does.
 */
class Bf16TangentsTest {
    private static final GptConfig SMALL = new GptConfig(16, 8, 16, 2, 3, 0f);
    private static final GptHvp.Problem PROBLEM = GptHvp.problem(SMALL, 2, 5);
    /** Per parameter block, ‖H·z(bf16) − H·z(fp32)‖ / ‖H·z(fp32)‖: BF16 rounds each operand by up to 2⁻⁹ relative. */
    static final double HZ_TOLERANCE = 3e-2; // measured: 0.2-0.9% per block, 1.4% at most (3 blocks, width 16)

    record Pass(float[] grad, float[] hz) {
    }

    /** One pass along {@code z} on the problem's model (every block kept, or checkpointed by {@code policy}). */
    static Pass pass(GptHvp.Problem p, Policy policy, float[] z, GemmFormats formats) {
        Gpt model = new Gpt(p.config(), new Rng(1));
        GptHvp.load(model, p);
        FlatParameters flat = model.flatten();
        List<Tensor> params = model.parameters();
        float[] hz = new float[flat.length()];
        try (Scope s = Scope.open()) {
            Tensor[] b = GptHvp.batch(p);
            ForwardOverReverse.run(model, policy, b[0], b[1], 1f, flat, params, z, true, (k, part) -> {
                int o = flat.entries().get(k).offset();
                for (int i = 0; i < part.numel(); i++) hz[o + i] += part.data()[part.offset() + i];
            }, formats);
        }
        return new Pass(flat.grads().whole().toFloatArray(), hz);
    }

    static float[] direction(GptHvp.Problem p, FlatParameters flat) {
        float[] z = new float[flat.length()];
        for (FlatParameters.Entry e : flat.entries()) System.arraycopy(p.v().get(e.name()), 0, z, e.offset(), e.numel());
        return z;
    }

    private static FlatParameters layout(GptHvp.Problem p) {
        return new Gpt(p.config(), new Rng(1)).flatten();
    }

    static double relative(float[] got, float[] ref, int from, int to) {
        double diff = 0, norm = 0;
        for (int i = from; i < to; i++) {
            diff += (got[i] - (double) ref[i]) * (got[i] - ref[i]);
            norm += (double) ref[i] * ref[i];
        }
        return norm == 0 ? Math.sqrt(diff) : Math.sqrt(diff / norm);
    }

    @Test
    void gradientIsTheFp32PassesBitForBitAndHzWithinBf16Rounding() {
        FlatParameters flat = layout(PROBLEM);
        float[] z = direction(PROBLEM, flat);
        for (Policy policy : new Policy[]{null, Policy.everyLayer(SMALL.layers())}) {
            Pass fp32 = pass(PROBLEM, policy, z, GemmFormats.FP32), bf16 = pass(PROBLEM, policy, z, GemmFormats.tangents(DType.BF16));
            assertThat(bf16.grad()).as("gradient").containsExactly(fp32.grad());
            double largest = 0;
            for (FlatParameters.Entry e : flat.entries()) {
                double err = relative(bf16.hz(), fp32.hz(), e.offset(), e.offset() + e.numel());
                assertThat(err).as("H·z of %s", e.name()).isLessThan(HZ_TOLERANCE);
                largest = Math.max(largest, err);
            }
            assertThat(largest).as("BF16 tangent GEMMs change H·z").isGreaterThan(1e-5);
            System.out.printf("bf16 tangents, %s: largest block error of H·z %.3g%n", policy == null ? "no policy" : policy.describe(), largest);
        }
    }

    /**
     * Hutchinson's diag(H) ≈ mean of z ⊙ Hz over Rademacher z on a tiny GPT: the exact diagonal from H·eᵢ for every
     * parameter (FP32 fused pass); with BF16 tangent GEMMs the estimate's error falls with n as the FP32 estimate's does
     * (the same z: the two estimates differ by BF16 rounding, far less than the sampling error).
     */
    @Test
    void hutchinsonDiagonalStillConverges() {
        GptHvp.Problem tiny = GptHvp.problem(new GptConfig(6, 4, 4, 2, 1, 0f), 2, 11);
        FlatParameters flat = layout(tiny);
        int n = flat.length();
        double[] exact = new double[n];
        float[] e = new float[n];
        for (int i = 0; i < n; i++) {
            e[i] = 1f;
            exact[i] = pass(tiny, null, e, GemmFormats.FP32).hz()[i];
            e[i] = 0f;
        }
        Rng rng = new Rng(3);
        double[] sum32 = new double[n], sum16 = new double[n];
        int[] checkpoints = {4, 64};
        double[][] errors = new double[2][checkpoints.length];
        int at = 0;
        for (int s = 1; s <= checkpoints[checkpoints.length - 1]; s++) {
            float[] z = new float[n];
            for (int i = 0; i < n; i++) z[i] = rng.nextInt(2) == 0 ? -1f : 1f;
            float[] h32 = pass(tiny, null, z, GemmFormats.FP32).hz(), h16 = pass(tiny, null, z, GemmFormats.tangents(DType.BF16)).hz();
            for (int i = 0; i < n; i++) {
                sum32[i] += z[i] * h32[i];
                sum16[i] += z[i] * h16[i];
            }
            if (s == checkpoints[at]) {
                errors[0][at] = error(sum32, s, exact);
                errors[1][at] = error(sum16, s, exact);
                at++;
            }
        }
        System.out.printf("Hutchinson diag error, n = 4 / 64: fp32 %.3g / %.3g, bf16 tangents %.3g / %.3g%n",
                errors[0][0], errors[0][1], errors[1][0], errors[1][1]);
        for (int f = 0; f < 2; f++) assertThat(errors[f][1]).as("error at n = 64 vs n = 4").isLessThan(errors[f][0] / 2);
        for (int c = 0; c < checkpoints.length; c++) assertThat(errors[1][c]).isCloseTo(errors[0][c], org.assertj.core.data.Offset.offset(0.05 * errors[0][c]));
    }

    private static double error(double[] sum, int samples, double[] exact) {
        double diff = 0, norm = 0;
        for (int i = 0; i < exact.length; i++) {
            double d = sum[i] / samples - exact[i];
            diff += d * d;
            norm += exact[i] * exact[i];
        }
        return Math.sqrt(diff / norm);
    }

    @Test
    void formatsOutsideTheRulesAreRefused() {
        assertThatThrownBy(() -> new GemmFormats(DType.BF16, DType.FP32)).hasMessageContaining("tangents follow the same rules");
        assertThatThrownBy(() -> GemmFormats.tangents(DType.FP8_E4M3)).hasMessageContaining("FP32, BF16 or FP16");
        assertThatThrownBy(() -> GemmFormats.autocast(DType.FP32)).hasMessageContaining("BF16 or FP16");
    }
}
