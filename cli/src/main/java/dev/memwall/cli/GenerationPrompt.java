package dev.memwall.cli;

import dev.memwall.nn.GptConfig;
import dev.memwall.rng.Rng;
import picocli.CommandLine;

import java.nio.charset.StandardCharsets;

/** The prompt of {@code profile --generate}: --prompt's UTF-8 bytes, or --prompt-tokens random tokens (default: half the context). */
final class GenerationPrompt {
    private GenerationPrompt() {
    }

    /** Token ids of the prompt, leaving at least one position of the context to decode into. */
    static int[] ids(String prompt, Integer promptTokens, GptConfig c, long seed, CommandLine cl) {
        if (prompt != null && promptTokens != null) throw new CommandLine.ParameterException(cl, "give --prompt or --prompt-tokens, not both");
        if (prompt != null) {
            byte[] text = prompt.getBytes(StandardCharsets.UTF_8);
            if (text.length == 0 || text.length >= c.context()) {
                throw new CommandLine.ParameterException(cl, "--prompt is " + text.length + " bytes: give 1 to " + (c.context() - 1)
                        + ", leaving room in the model's context of " + c.context() + " to decode");
            }
            int[] ids = new int[text.length];
            for (int i = 0; i < text.length; i++) {
                ids[i] = text[i] & 0xff;
                if (ids[i] >= c.vocab()) {
                    throw new CommandLine.ParameterException(cl, "--prompt byte " + ids[i] + " at offset " + i
                            + " is outside the model's vocabulary of " + c.vocab());
                }
            }
            return ids;
        }
        int p = promptTokens != null ? promptTokens : Math.max(1, c.context() / 2);
        if (p < 1 || p >= c.context()) {
            throw new CommandLine.ParameterException(cl, "--prompt-tokens " + p + ": give 1 to " + (c.context() - 1)
                    + ", leaving room in the model's context of " + c.context() + " to decode");
        }
        Rng r = new Rng(seed);
        int[] ids = new int[p];
        for (int i = 0; i < p; i++) ids[i] = r.nextInt(c.vocab());
        return ids;
    }
}
