package dev.memwall.cli;

import dev.memwall.precision.Precision;
import dev.memwall.train.ShardedPrecision;
import dev.memwall.train.ZeroStage;
import picocli.CommandLine;

/**
 * What {@code train} refuses about precision under sharding, before any rank joins (so every rank exits at once with
 * the same error): 1×128/128×128 block-scaled FP8 (fp8-blockwise) at {@code --zero 3}, a {@code --reduce-dtype} other than fp32 or bf16, and bf16
 * reductions in a single process. A resumed run's saved precision is checked again when the trainer takes it.
 */
final class ShardedPrecisionOption {
    private ShardedPrecisionOption() {
    }

    static void check(ZeroStage stage, PrecisionOptions precision, String reduceDtype, int worldSize, CommandLine cl) {
        try {
            if (precision.precision != null) ShardedPrecision.check(stage, Precision.parse(precision.precision));
            ShardedPrecision.reduceFormat(reduceDtype, worldSize);
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(cl, e.getMessage());
        }
    }
}
