package dev.memwall.generate;

import dev.memwall.autograd.Scope;
import dev.memwall.autograd.Tensor;
import dev.memwall.nn.Gpt;

import java.util.Arrays;
import java.util.function.IntConsumer;

/**
 * The generation loop: {@link GptDecoder#prefill} of the prompt, then per new token a sample from the last logits and
 * a {@link GptDecoder#decode} of that token. Each token goes to the consumer as soon as it is drawn (streaming).
 *
 * <p><b>Context full.</b> Positions are learned embeddings of absolute positions 0 … context−1, so cached keys cannot
 * be shifted. Once the cache holds the model's whole context, every further token re-prefills the last context
 * tokens (a sliding window, recomputed): the model always sees exactly the last min(length, context) tokens, as a
 * full forward would, at the price of a prefill of the whole context per token from then on.
 */
public final class Generator {
    private Generator() {
    }

    /**
     * Samples {@code tokens} tokens after {@code prompt} (1 to context tokens) and hands each to {@code out}. The KV
     * cache (and every temporary) is released before this returns, also on failure.
     */
    public static int[] generate(Gpt model, int[] prompt, int tokens, Sampler sampler, IntConsumer out) {
        int ctx = model.config().context(), vocab = model.config().vocab();
        if (tokens < 0) throw new IllegalArgumentException("tokens must be >= 0: " + tokens);
        int[] seq = Arrays.copyOf(prompt, prompt.length + tokens);
        int len = prompt.length;
        try (Scope scope = Scope.open(); GptDecoder decoder = new GptDecoder(model)) {
            Tensor logits = decoder.prefill(prompt);
            for (int i = 0; i < tokens; i++) {
                int next = sampler.sample(logits.data(), logits.offset() + (logits.size(0) - 1) * vocab, vocab);
                logits.release();
                logits = null;
                seq[len++] = next;
                out.accept(next);
                if (i == tokens - 1) break;
                logits = decoder.length() < ctx ? decoder.decode(next) : decoder.prefill(Arrays.copyOfRange(seq, len - ctx, len));
            }
            if (logits != null) logits.release();
        }
        return Arrays.copyOfRange(seq, prompt.length, len);
    }
}
