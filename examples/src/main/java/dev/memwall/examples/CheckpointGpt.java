package dev.memwall.examples;

import dev.memwall.autograd.Scope;
import dev.memwall.checkpoint.Checkpointing;
import dev.memwall.checkpoint.Planner;
import dev.memwall.checkpoint.Policy;
import dev.memwall.checkpoint.Profiler;
import dev.memwall.data.AdditionTask;
import dev.memwall.data.Batch;
import dev.memwall.memory.Category;
import dev.memwall.memory.MemoryTracker;
import dev.memwall.nn.FlatParameters;
import dev.memwall.nn.Gpt;
import dev.memwall.nn.GptConfig;
import dev.memwall.optim.AdamW;
import dev.memwall.optim.LrSchedule;
import dev.memwall.rng.Rng;
import dev.memwall.train.StepStats;
import dev.memwall.train.Trainer;

import java.util.List;

/**
 * Memory with and without checkpointing, from Java: the same GPT trained a few steps under each policy, and a plan
 * that fits a budget. Each run counts its bytes in a fresh tracker.
 */
public final class CheckpointGpt {
    public static void main(String[] args) {
        AdditionTask task = new AdditionTask(3);
        GptConfig config = new GptConfig(256, task.context(), 128, 4, 6, 0f);
        Batch batch = task.trainBatch(64, new Rng(1));
        long none = 0, every = 0;
        for (String name : List.of("NONE", "EVERY_LAYER", "SELECTIVE")) {
            StepStats s = train(config, batch, model -> Policy.parse(name, config.layers()));
            if (name.equals("NONE")) none = s.peakTotalBytes();
            if (name.equals("EVERY_LAYER")) every = s.peakTotalBytes();
        }
        long budget = (none + every) / 2;                                  // halfway, as compare-memory does
        train(config, batch, model -> {
            Planner.Profile profile;
            try (Scope s = Scope.open()) {                                 // profiles one block at a time
                profile = Profiler.profile(model, batch.idsTensor(), batch.targetsTensor(), 0); // AdamW state exists already
            }
            Planner.Plan plan = Planner.plan(profile, budget);
            System.out.println(plan.describe());
            return plan.policy();
        });
    }

    private static StepStats train(GptConfig config, Batch batch, java.util.function.Function<Gpt, Policy> choose) {
        try (var tracker = MemoryTracker.install(new MemoryTracker())) {
            Gpt model = new Gpt(config, new Rng(0));
            FlatParameters params = model.flatten();
            AdamW adamw = new AdamW(params, AdamW.Config.defaults(1e-3));
            Trainer trainer = new Trainer(model, params, adamw, LrSchedule.constant(1e-3), 1.0);
            Policy policy = choose.apply(model);
            Checkpointing.install(model, policy);                          // the blocks now run under the policy
            StepStats last = null;
            for (int step = 0; step < 3; step++) last = trainer.step(batch);
            System.out.printf("%-18s loss %.4f  activations %6.1f MiB  whole step %6.1f MiB  %5.0f ms/step%n",
                    policy.name(), last.loss(), last.peakBytes().get(Category.ACTIVATION) / 1048576.0,
                    last.peakTotalBytes() / 1048576.0, last.millis());
            return last;
        }
    }
}
