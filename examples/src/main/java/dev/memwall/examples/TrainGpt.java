package dev.memwall.examples;

import dev.memwall.data.AdditionTask;
import dev.memwall.memory.Category;
import dev.memwall.nn.FlatParameters;
import dev.memwall.nn.Gpt;
import dev.memwall.nn.GptConfig;
import dev.memwall.optim.AdamW;
import dev.memwall.optim.LrSchedule;
import dev.memwall.rng.Rng;
import dev.memwall.train.StepStats;
import dev.memwall.train.Trainer;

/** The README's example: train a small GPT on 2-digit addition through the Java API and look at its memory. */
public final class TrainGpt {
    public static void main(String[] args) {
        AdditionTask task = new AdditionTask(2);                          // "12+34=" -> reversed sum, built in
        GptConfig config = new GptConfig(256, task.context(), 128, 4, 2, 0f); // vocab, context, width, heads, layers, dropout
        Gpt model = new Gpt(config, new Rng(0));
        FlatParameters params = model.flatten();                          // parameters and gradients in two flat buffers
        AdamW adamw = new AdamW(params, new AdamW.Config(3e-3, 0.9, 0.95, 1e-8, 0.01)); // lr, betas, eps, weight decay
        Trainer trainer = new Trainer(model, params, adamw, LrSchedule.warmupCosine(3e-3, 50, 800, 3e-4), 1.0);
        Rng data = new Rng(1);
        StepStats last = null;
        for (int step = 0; step < 800; step++) {
            last = trainer.step(task.trainBatch(64, data));               // forward, backward, clip, update
            if (step % 200 == 199) System.out.printf("step %d loss %.4f%n", step + 1, last.loss());
        }
        System.out.printf("held-out exact match: %.1f%%%n", 100 * task.exactMatchAccuracy(model, 500, 250));
        System.out.println("12+34 -> " + task.sampleCompletion(model, 12, 34));
        System.out.printf("activations at peak: %.2f MiB, whole step: %.2f MiB%n",
                last.peakBytes().get(Category.ACTIVATION) / 1048576.0, last.peakTotalBytes() / 1048576.0);
    }
}
