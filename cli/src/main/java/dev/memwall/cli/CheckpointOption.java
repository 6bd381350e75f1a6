package dev.memwall.cli;

import dev.memwall.autograd.CompressedActivations;
import dev.memwall.autograd.Scope;
import dev.memwall.checkpoint.Checkpointing;
import dev.memwall.checkpoint.Planner;
import dev.memwall.checkpoint.Policy;
import dev.memwall.checkpoint.Profiler;
import dev.memwall.data.Batch;
import dev.memwall.memory.Category;
import dev.memwall.memory.MemoryTracker;
import dev.memwall.nn.Gpt;
import dev.memwall.train.DataParallel;
import dev.memwall.train.SharedBudgetPlan;
import picocli.CommandLine;

import java.io.PrintStream;

/**
 * The {@code --checkpoint} option of train and bench: a named policy, or {@code BUDGET(bytes)}, planned from a
 * profile of the model on a sample batch so that the step's peak total fits the budget.
 */
final class CheckpointOption {
    static final String DESCRIPTION = "activation checkpointing, a POLICY for recomputing activations in backward to save "
            + "memory (not saved training state: that is --save/--resume): NONE, EVERY_LAYER, EVERY_K(k), SQRT, SELECTIVE, "
            + "or BUDGET(bytes) (also BUDGET(300MiB)): the least recomputation whose peak total memory fits";

    static final String PLAN_PREFIX = "checkpoint plan: ";

    private CheckpointOption() {
    }

    /**
     * Rejects a malformed value before any work starts (exit code 2). A value that looks like a directory or file is
     * most likely meant for saving training state, so the error points to {@code saveOption} ("--save", or
     * "train --save" where the command has none).
     */
    static void validate(String text, int layers, CommandLine cl, String saveOption) {
        try {
            if (Policy.parseBudget(text) == null) Policy.parse(text, layers);
        } catch (IllegalArgumentException e) {
            String hint = looksLikePath(text) ? "; --checkpoint chooses activation recomputation, not where training state "
                    + "goes: did you mean " + saveOption + " " + text + "?" : "";
            throw new CommandLine.ParameterException(cl, "--checkpoint: " + e.getMessage() + hint);
        }
    }

    private static boolean looksLikePath(String text) {
        if (text.contains("/") || text.contains(java.io.File.separator) || text.startsWith(".")) return true;
        try {
            return java.nio.file.Files.exists(java.nio.file.Path.of(text));
        } catch (java.nio.file.InvalidPathException e) {
            return false;
        }
    }

    /**
     * Resolves and installs the policy on {@code model}. For BUDGET, {@code sample} is profiled first and the part of
     * {@code optimizerStateBytes} (the optimizer's state in a step) not allocated yet is counted in; the plan goes to
     * {@code log}. An infeasible budget throws {@link IllegalArgumentException} naming the smallest feasible one.
     */
    static Policy install(String text, Gpt model, Batch sample, long optimizerStateBytes, PrintStream log) {
        return install(text, model, sample, optimizerStateBytes, log, CompressedActivations.Format.FP32);
    }

    /**
     * {@link #install} for a run that keeps saved activations in {@code saved}: a BUDGET profile is measured under those
     * hooks and planned with their bytes per element (recomputed segments are FP32 in backward).
     */
    static Policy install(String text, Gpt model, Batch sample, long optimizerStateBytes, PrintStream log,
                          CompressedActivations.Format saved) {
        return install(text, model, sample, optimizerStateBytes, log, saved, null);
    }

    /**
     * {@link #install} for one rank of a job: {@code sample} is this rank's rows, and a BUDGET plan is rank 0's, the
     * same on every rank, profiled as {@code dp} holds the model (at ZeRO stage 3 a collective: {@link SharedBudgetPlan}).
     * Null {@code dp}: a model that holds its parameters, planned alone.
     */
    static Policy install(String text, Gpt model, Batch sample, long optimizerStateBytes, PrintStream log,
                          CompressedActivations.Format saved, DataParallel dp) {
        OutOfMemoryAdvice.watch(model.config(), sample, text);
        Long budget = Policy.parseBudget(text);
        Policy policy;
        if (budget == null) {
            policy = Policy.parse(text, model.config().layers());
        } else {
            Planner.Profile profile;
            try (Scope s = Scope.open(); var hooks = CompressedActivations.install(saved)) {
                long pending = Math.max(0, optimizerStateBytes - MemoryTracker.current().current(Category.OPTIMIZER_STATE));
                profile = dp == null ? Profiler.profile(model, sample.idsTensor(), sample.targetsTensor(), pending)
                        : SharedBudgetPlan.profile(model, dp, sample, pending);
            }
            Planner.Plan plan = dp == null ? Planner.plan(profile, budget, saved.ratio())
                    : SharedBudgetPlan.plan(dp.group(), profile, budget, saved.ratio());
            if (log != null) log.println(PLAN_PREFIX + plan.describe());
            policy = plan.policy();
        }
        Checkpointing.install(model, policy);
        return policy;
    }

    /** AdamW keeps two FP32 moments per parameter. */
    static long adamStateBytes(Gpt model) {
        return 2L * Float.BYTES * model.parameterCount();
    }
}
