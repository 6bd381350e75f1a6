package dev.memwall.precision;

import dev.memwall.autograd.ConversionCounts;
import dev.memwall.autograd.DType;
import dev.memwall.autograd.Scope;
import dev.memwall.autograd.Tensor;
import dev.memwall.nn.Gpt;
import dev.memwall.nn.GptConfig;
import dev.memwall.nn.Linear;
import dev.memwall.rng.Rng;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * What a BF16 autocast step encodes, conversion by conversion ({@link ConversionCounts}): each weight once per region,
 * each GEMM operand once however many GEMMs read it, and the activations autocast keeps in BF16. The counts are
 * analytic, from the model's shapes.
 */
class AutocastCastCountTest {
    private static final int B = 3, T = 8, D = 16, H = 2, L = 2, V = 11;

    @BeforeEach
    void reset() {
        ConversionCounts.reset();
    }

    /** A linear's backward reads its gradient in BF16 twice (dx = g·W, dW = gᵀ·x): one encode, not one per GEMM. */
    @Test
    void linearEncodesItsGradientOnceForBothBackwardGemms() {
        int rows = 5, in = 6, out = 7;
        try (Scope s = Scope.open()) {
            Linear layer = new Linear(in, out, true, new Rng(1));
            Tensor x = Tensor.randn(new Rng(2), 1f, rows, in).requiresGrad(true).mul(1f);
            try (Autocast ac = Autocast.bf16()) {
                Tensor y = layer.forward(x);
                assertThat(ConversionCounts.encodes(DType.BF16)).as("forward: the weight and the input").isEqualTo(2);
                assertThat(ConversionCounts.encodedElements(DType.BF16)).isEqualTo((long) out * in + (long) rows * in);
                ConversionCounts.reset();
                y.sum().backward();
            }
            assertThat(ConversionCounts.encodes(DType.BF16)).as("backward: the gradient, once").isEqualTo(1);
            assertThat(ConversionCounts.encodedElements(DType.BF16)).isEqualTo((long) rows * out);
        }
    }

    /**
     * A whole GPT step (forward and backward) in one region, twice (two micro-batches): every linear weight is encoded
     * once for both; per micro-batch each linear input and each incoming linear gradient once, the attention's qkv and
     * probabilities once, and the saved copies (layer-norm inputs, GELU's input, the logits) once.
     */
    @Test
    void aGptStepEncodesEachWeightOnceAndEachOperandOnce() {
        GptConfig c = new GptConfig(V, T, D, H, L, 0f);
        int n = B * T;
        long weights = L * 12L * D * D + (long) V * D;
        long forwardOperands = L * (7L * n * D + 3L * n * D + (long) B * H * T * T) + (long) n * D;
        long saved = L * (2L * n * D + 4L * n * D) + (long) n * D + (long) n * V;
        long gradients = L * 9L * n * D + (long) n * V;
        int weightCalls = 4 * L + 1, perMicroBatchCalls = L * (4 + 2 + 3) + 1 + 2 + 4 * L + 1;
        try (Scope s = Scope.open()) {
            Gpt model = new Gpt(c, new Rng(3));
            Tensor ids = Tensor.ints(ids(n, V, 4), B, T), targets = Tensor.ints(ids(n, V, 5), B, T);
            try (Autocast ac = Autocast.bf16()) {
                for (int micro = 0; micro < 2; micro++) {
                    try (Scope m = Scope.open()) {
                        model.loss(ids, targets).backward();
                    }
                }
                assertThat(ac.cachedBytes()).isEqualTo(2 * weights);
            }
        }
        assertThat(ConversionCounts.encodedElements(DType.BF16))
                .isEqualTo(weights + 2 * (forwardOperands + saved + gradients));
        assertThat(ConversionCounts.encodes(DType.BF16)).isEqualTo(weightCalls + 2L * perMicroBatchCalls);
    }

    private static int[] ids(int n, int vocab, long seed) {
        Rng r = new Rng(seed);
        int[] v = new int[n];
        for (int i = 0; i < n; i++) v[i] = r.nextInt(vocab);
        return v;
    }
}
