package dev.memwall.examples;

import dev.memwall.data.AdditionTask;
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
import dev.memwall.train.DataParallel;
import dev.memwall.train.ZeroStage;
import dev.memwall.sharding.ProcessGroup;

/**
 * A multi-process job launched from {@code main} (the Java side of {@code memwall launch}): the same class is the
 * launcher, when started by hand, and each of the two workers, when started by the launcher with RANK set. The
 * workers join one process group ({@code ProcessGroup.fromEnvironment()}, shared memory) and train one small GPT with
 * ZeRO stage 1: each takes half of every global batch and keeps and updates the AdamW state of half the parameters.
 * Each prints its loss (the global batch's, the same on both) and ends with a JSON summary, which the launcher
 * collects. Run with
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
        try (ProcessGroup group = ProcessGroup.fromEnvironment()) {
            DataParallel dp = DataParallel.of(model, group, ZeroStage.STAGE_1); // flat buffers padded to N shards
            AdamW adamw = new AdamW(dp.params(), dp.shard(), new AdamW.Config(3e-3, 0.9, 0.95, 1e-8, 0.01)); // this rank's 1/N
            Trainer trainer = new Trainer(model, dp, adamw, LrSchedule.warmupCosine(3e-3, 10, steps, 3e-4), 1.0);
            Rng data = new Rng(1); // the same seed on every rank: the same global batches; each trains on its rows
            StepStats last = null;
            for (int step = 0; step < steps; step++) {
                last = trainer.step(task.trainBatch(16, data));
                if (step % 50 == 49) System.out.printf("step %d loss %.4f%n", step + 1, last.loss()); // printed as "[rank k] step ..."
            }
            group.barrier(); // no rank leaves while a peer may still be in a collective
            System.out.printf("{\"rank\": %d, \"world_size\": %d, \"zero_stage\": 1, \"steps\": %d, \"final_loss\": %s, "
                    + "\"model_state_bytes\": %d}%n", rank, worldSize, steps, last.loss(), last.modelStateBytes());
        }
    }
}
