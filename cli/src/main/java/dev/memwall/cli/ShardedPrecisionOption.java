package dev.memwall.cli;

import dev.memwall.train.ShardedPrecision;
import picocli.CommandLine;

/**
 * What {@code train} refuses about precision under sharding, before any rank joins (so every rank exits at once with
 * the same error): a {@code --reduce-dtype} other than fp32 or bf16, and bf16 reductions in a single process. Every
 * {@code --precision} trains at every {@code --zero} stage.
 */
final class ShardedPrecisionOption {
    private ShardedPrecisionOption() {
    }

    static void check(String reduceDtype, int worldSize, CommandLine cl) {
        try {
            ShardedPrecision.reduceFormat(reduceDtype, worldSize);
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(cl, e.getMessage());
        }
    }
}
