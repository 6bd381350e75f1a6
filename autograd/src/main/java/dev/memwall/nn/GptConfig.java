package dev.memwall.nn;

/**
 * Shape of a GPT: byte vocabulary, context, width, heads, layers, dropout. {@link #benchmark()} is the model every
 * benchmark in the project uses.
 */
public record GptConfig(int vocab, int context, int dim, int heads, int layers, float dropout) {
    public GptConfig {
        if (vocab <= 0 || context <= 0 || dim <= 0 || heads <= 0 || layers < 0) {
            throw new IllegalArgumentException("GPT config needs positive sizes: " + this);
        }
        if (dim % heads != 0) throw new IllegalArgumentException("dim " + dim + " is not divisible by heads " + heads);
        if (dropout < 0f || dropout >= 1f) throw new IllegalArgumentException("dropout must be in [0, 1): " + dropout);
    }

    /** Vocabulary 256 (bytes), context 128, width 256, 4 heads, 6 layers, no dropout. */
    public static GptConfig benchmark() {
        return new GptConfig(256, 128, 256, 4, 6, 0f);
    }

    public int headDim() {
        return dim / heads;
    }
}
