package dev.memwall.examples;

import dev.memwall.data.AdditionTask;
import dev.memwall.nn.FlatParameters;
import dev.memwall.nn.Gpt;
import dev.memwall.nn.GptConfig;
import dev.memwall.optim.AdamW;
import dev.memwall.optim.LrSchedule;
import dev.memwall.rng.Rng;
import dev.memwall.sharding.launch.LaunchResult;
import dev.memwall.sharding.launch.Launcher;
import dev.memwall.sharding.launch.LauncherWatch;
import dev.memwall.train.StepStats;
import dev.memwall.train.Trainer;

/**
 * A multi-process job launched from {@code main} (the Java side of {@code memwall launch}): the same class is the
 * launcher, when started by hand, and each of the two workers, when started by the launcher with RANK set. Until
 * sharded training arrives, every worker trains the same small GPT on its own; each prints its loss and ends with a
 * JSON summary, which the launcher collects. Run with
 * {@code mvn -q -pl examples -am compile exec:java -Dexample=dev.memwall.examples.LaunchGpt}.
 */
public final class LaunchGpt {
    public static void main(String[] args) throws Exception {
        int steps = args.length > 0 ? Integer.parseInt(args[0]) : 200;
        if (System.getenv("RANK") != null) {
            LauncherWatch.install(); // exit, rather than run on, if the launcher is killed
            train(Integer.parseInt(System.getenv("RANK")), Integer.parseInt(System.getenv("WORLD_SIZE")), steps);
            return;
        }
        LaunchResult result = Launcher.builder(LaunchGpt.class.getName(), String.valueOf(steps))
                .nproc(2)            // two worker JVMs, each with RANK, WORLD_SIZE, MEMWALL_JOB_ID and MEMWALL_RUN_DIR
                .heap("512m")        // -Xmx of each worker
                .collectJson(true)   // each worker's last JSON line is its summary
                .build().run();      // returns when every worker has ended; the first failure stops the others
        System.out.println(result.toJson());
        if (result.exitCode() != 0) System.exit(result.exitCode());
    }

    private static void train(int rank, int worldSize, int steps) {
        AdditionTask task = new AdditionTask(2);
        Gpt model = new Gpt(new GptConfig(256, task.context(), 32, 2, 1, 0f), new Rng(0));
        FlatParameters params = model.flatten();
        AdamW adamw = new AdamW(params, new AdamW.Config(3e-3, 0.9, 0.95, 1e-8, 0.01));
        Trainer trainer = new Trainer(model, params, adamw, LrSchedule.warmupCosine(3e-3, 10, steps, 3e-4), 1.0);
        Rng data = new Rng(1);
        StepStats last = null;
        for (int step = 0; step < steps; step++) {
            last = trainer.step(task.trainBatch(16, data));
            if (step % 50 == 49) System.out.printf("step %d loss %.4f%n", step + 1, last.loss()); // printed as "[rank k] step ..."
        }
        System.out.printf("{\"rank\": %d, \"world_size\": %d, \"steps\": %d, \"final_loss\": %s}%n", rank, worldSize, steps, last.loss());
    }
}
