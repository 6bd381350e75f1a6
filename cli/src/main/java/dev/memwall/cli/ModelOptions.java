package dev.memwall.cli;

import dev.memwall.nn.GptConfig;
import picocli.CommandLine.Option;

/** Model-shape options shared by the commands; defaults are the GPT benchmark model. */
final class ModelOptions {
    @Option(names = "--layers", description = "Transformer blocks (default: ${DEFAULT-VALUE})")
    int layers = 6;
    @Option(names = "--dim", description = "model width (default: ${DEFAULT-VALUE})")
    int dim = 256;
    @Option(names = "--heads", description = "attention heads (default: ${DEFAULT-VALUE})")
    int heads = 4;
    @Option(names = "--batch", description = "sequences per step (default: ${DEFAULT-VALUE})")
    int batch = 16;
    @Option(names = "--ctx", description = "context length (default: ${DEFAULT-VALUE})")
    int ctx = 128;

    GptConfig config(int vocab, float dropout) {
        return new GptConfig(vocab, ctx, dim, heads, layers, dropout);
    }

    void validate(picocli.CommandLine cl) {
        if (layers < 1 || dim < 1 || heads < 1 || batch < 1 || ctx < 1) {
            throw new picocli.CommandLine.ParameterException(cl, "--layers, --dim, --heads, --batch and --ctx must be positive");
        }
        if (dim % heads != 0) throw new picocli.CommandLine.ParameterException(cl, "--dim " + dim + " is not divisible by --heads " + heads);
    }
}
