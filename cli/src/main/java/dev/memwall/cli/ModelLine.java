package dev.memwall.cli;

import dev.memwall.nn.GptConfig;

/**
 * The first line of every command: the model it runs. train's defaults (a small model for the addition task) differ
 * from bench's and compare-memory's (the GPT benchmark model) under the same option names, so no command leaves the
 * shape it ran to be guessed.
 */
final class ModelLine {
    private ModelLine() {
    }

    /** "model: GPT L2 D128 H4 ctx16 vocab256, 0.40M params" followed by {@code rest}. */
    static String of(GptConfig c, long params, String rest) {
        String count = params >= 100_000 ? String.format("%.2fM", params / 1e6) : String.format("%.1fK", params / 1e3);
        return String.format("model: GPT L%d D%d H%d ctx%d vocab%d, %s params%s", c.layers(), c.dim(), c.heads(), c.context(),
                c.vocab(), count, rest);
    }
}
