package dev.memwall.data;

import dev.memwall.autograd.GradMode;
import dev.memwall.autograd.Guard;
import dev.memwall.autograd.Scope;
import dev.memwall.autograd.Tensor;
import dev.memwall.nn.Gpt;

/**
 * A greedy next-byte predictor for a batch of equally long prefixes: given {@code batch} rows of {@code width} bytes
 * (row-major), returns for each row the byte that should follow its last byte. Only the prefix is passed, so a
 * predictor cannot look ahead. {@link #greedy(Gpt)} adapts a model; tests pass oracles.
 */
@FunctionalInterface
public interface NextByte {
    int[] next(int[] prefixes, int batch, int width);

    /**
     * Argmax of the model's logits at the last position of each prefix (ties go to the lowest byte). Runs the forward
     * under {@link GradMode#noGrad()} inside its own {@link Scope}, in eval mode (the model's training flag is
     * restored afterwards), so no tensor outlives the call.
     */
    static NextByte greedy(Gpt model) {
        if (model == null) throw new IllegalArgumentException("model is null");
        return (prefixes, batch, width) -> {
            if (width > model.config().context()) {
                throw new IllegalArgumentException("prefix of " + width + " bytes exceeds the model context " + model.config().context());
            }
            boolean wasTraining = model.isTraining();
            model.train(false);
            try (Scope scope = Scope.open(); Guard g = GradMode.noGrad()) {
                Tensor ids = Tensor.ints(prefixes, batch, width);
                Tensor logits = model.forward(ids);
                int vocab = logits.size(2);
                float[] v = logits.data();
                int[] out = new int[batch];
                for (int r = 0; r < batch; r++) {
                    int at = logits.offset() + (r * width + width - 1) * vocab;
                    int best = 0;
                    for (int k = 1; k < vocab; k++) if (v[at + k] > v[at + best]) best = k;
                    out[r] = best;
                }
                return out;
            } finally {
                model.train(wasTraining);
            }
        };
    }
}
