package dev.memwall.cli;

import dev.memwall.checkpoint.Policy;
import dev.memwall.train.ZeroStage;
import picocli.CommandLine;

import java.nio.file.Path;

/** What {@code train --zero 3} refuses, before any rank joins, so every rank exits at once with the same error. */
final class ZeroStage3Option {
    private ZeroStage3Option() {
    }

    static void check(ZeroStage stage, Path save, Path resume, String checkpoint, CommandLine cl) {
        if (stage != ZeroStage.STAGE_3) return;
        if (save != null || resume != null) {
            // A sharded checkpoint holds one contiguous range of the flat buffer per rank; stage 3 owns one piece of
            // every parameter unit (and no replicated parameters for rank 0 to write as model.safetensors).
            throw new CommandLine.ParameterException(cl, "--zero 3 cannot " + (save != null ? "--save" : "--resume")
                    + " yet: each rank owns one piece of every parameter unit, and sharded checkpoints hold one contiguous"
                    + " range per rank; --zero 1 saves and resumes the same training (a checkpoint from --zero 1 or 0 holds"
                    + " the same state)");
        }
        if (Policy.parseBudget(checkpoint) != null) {
            // the budget planner profiles the model with a backward outside a training step, whose parameters a
            // stage-3 model does not hold
            throw new CommandLine.ParameterException(cl, "--checkpoint " + checkpoint + " is not available with --zero 3"
                    + " (the budget planner profiles a model whose parameters are all present); name a policy:"
                    + " NONE, EVERY_LAYER or SELECTIVE");
        }
    }
}
