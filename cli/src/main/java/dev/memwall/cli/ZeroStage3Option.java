package dev.memwall.cli;

import dev.memwall.checkpoint.Policy;
import dev.memwall.train.ZeroStage;
import picocli.CommandLine;

/** What {@code train --zero 3} refuses, before any rank joins, so every rank exits at once with the same error. */
final class ZeroStage3Option {
    private ZeroStage3Option() {
    }

    static void check(ZeroStage stage, String checkpoint, CommandLine cl) {
        if (stage != ZeroStage.STAGE_3) return;
        if (Policy.parseBudget(checkpoint) != null) {
            // the budget planner profiles the model with a backward outside a training step, whose parameters a
            // stage-3 model does not hold
            throw new CommandLine.ParameterException(cl, "--checkpoint " + checkpoint + " is not available with --zero 3"
                    + " (the budget planner profiles a model whose parameters are all present); name a policy:"
                    + " NONE, EVERY_LAYER or SELECTIVE");
        }
    }
}
