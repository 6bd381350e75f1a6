package dev.memwall.precision;

import dev.memwall.autograd.Scope;
import dev.memwall.autograd.Tensor;
import dev.memwall.memory.Category;
import dev.memwall.memory.MemoryTracker;
import dev.memwall.nn.Gpt;
import dev.memwall.nn.GptConfig;
import dev.memwall.rng.Rng;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * What a one-block GPT saves for backward under BF16 autocast, byte for byte: the GEMM operands (every Linear's input,
 * the attention's qkv and probabilities) in 2 bytes, everything else as in FP32 (MemoryAccountingTest's count).
 */
class AutocastActivationBytesTest {
    @Test
    void oneBlockGptSavesItsGemmOperandsInTwoBytes() {
        int b = 2, t = 16, d = 32, h = 4, v = 40;
        GptConfig c = new GptConfig(v, t, d, h, 1, 0f);
        MemoryTracker tracker = new MemoryTracker();
        long peak, weights;
        try (var installed = MemoryTracker.install(tracker)) {
            Gpt model = new Gpt(c, new Rng(3));
            int n = b * t;
            int[] ids = new int[n], next = new int[n];
            Rng data = new Rng(11);
            for (int i = 0; i < n; i++) {
                ids[i] = data.nextInt(v);
                next[i] = data.nextInt(v);
            }
            long params = tracker.current(Category.PARAMETER);
            tracker.resetPeaks();
            try (Scope step = Scope.open(); Autocast ac = Autocast.bf16()) {
                Tensor loss = model.loss(Tensor.ints(ids, b, t), Tensor.ints(next, b, t));
                loss.backward();
                assertThat(tracker.current(Category.ACTIVATION)).isZero();
            }
            peak = tracker.peak(Category.ACTIVATION);
            weights = tracker.peak(Category.PARAMETER) - params;
            assertThat(tracker.current(Category.PARAMETER)).isEqualTo(params);
        }
        long btd = (long) b * t * d, bt = (long) b * t;
        long block = 4 * btd      // ln1 input (FP32: the residual stream)
                + 2 * btd         // qkv's input, cast
                + 2 * 3 * btd     // the attention's qkv, cast
                + 2L * b * h * t * t // the attention probabilities, cast
                + 2 * btd         // proj's input, cast
                + 4 * btd         // ln2 input
                + 2 * btd         // fc's input, cast
                + 4 * 4 * btd     // GELU's input: fc's FP32 output (PyTorch's would be BF16, see docs/precision.md)
                + 2 * 4 * btd     // the MLP projection's input, cast
                + 4 * 4 * bt;     // mean and rstd of two layer norms
        long expected = block
                + 4 * (btd + 2 * bt) // final layer norm
                + 2 * btd         // LM head input, cast
                + 4 * bt * v      // cross-entropy logits
                + 4 * (bt + bt);  // token ids and targets
        assertThat(peak).isEqualTo(expected);
        long gemmWeights = 3L * d * d + d * d + 4L * d * d + 4L * d * d + (long) v * d; // qkv, proj, fc, out, head
        assertThat(weights).as("one BF16 copy of each GEMM weight").isEqualTo(2 * gemmWeights);
    }
}
