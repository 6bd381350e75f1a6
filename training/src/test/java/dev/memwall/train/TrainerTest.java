package dev.memwall.train;

import dev.memwall.data.AdditionTask;
import dev.memwall.data.Batch;
import dev.memwall.memory.Category;
import dev.memwall.memory.MemoryTracker;
import dev.memwall.nn.FlatParameters;
import dev.memwall.nn.Gpt;
import dev.memwall.nn.GptConfig;
import dev.memwall.optim.AdamW;
import dev.memwall.optim.LrSchedule;
import dev.memwall.optim.Sgd;
import dev.memwall.rng.Rng;
import org.junit.jupiter.api.Test;

import java.util.Arrays;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

class TrainerTest {
    private static Trainer trainer(GptConfig c, double lr, long seed) {
        Gpt model = new Gpt(c, new Rng(seed));
        FlatParameters flat = model.flatten();
        AdamW opt = new AdamW(flat, new AdamW.Config(lr, 0.9, 0.95, 1e-8, 0.0));
        return new Trainer(model, flat, opt, LrSchedule.constant(lr), 1.0);
    }

    private static Trainer sgdTrainer(GptConfig c, double lr, long seed) {
        Gpt model = new Gpt(c, new Rng(seed));
        FlatParameters flat = model.flatten();
        return new Trainer(model, flat, new Sgd(flat, Sgd.Config.plain(lr)), LrSchedule.constant(lr), 0);
    }

    @Test
    void overfitsOneBatchToNearZeroLoss() {
        GptConfig c = new GptConfig(32, 8, 32, 2, 1, 0f);
        Trainer t = trainer(c, 3e-3, 1);
        Rng r = new Rng(9);
        int[] ids = new int[4 * 8], next = new int[4 * 8];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = r.nextInt(32);
            next[i] = r.nextInt(32);
        }
        Batch b = new Batch(ids, next, 4, 8);
        double first = t.step(b).loss(), last = first;
        for (int i = 0; i < 300; i++) last = t.step(b).loss();
        assertThat(first).isGreaterThan(3.0); // ln 32 ≈ 3.47 at initialisation
        assertThat(last).isLessThan(0.05);
    }

    @Test
    void lossFallsOnTheAdditionTask() {
        AdditionTask task = new AdditionTask(2);
        Trainer t = trainer(new GptConfig(256, task.context(), 48, 4, 2, 0f), 3e-3, 2);
        Rng data = new Rng(3);
        double early = 0, late = 0;
        for (int i = 0; i < 150; i++) {
            double loss = t.step(task.trainBatch(32, data)).loss();
            if (i < 10) early += loss / 10;
            if (i >= 140) late += loss / 10;
        }
        assertThat(late).isLessThan(early * 0.5);
    }

    /**
     * Two micro-batches of 4 give the gradient of one batch of 8. Plain SGD without clipping makes the update
     * lr·g, so a wrong 1/n scaling shows in the weights (AdamW's first step, lr·g/|g|, and clipping would hide it).
     */
    @Test
    void accumulationOfTwoHalvesEqualsOneBatch() {
        GptConfig c = new GptConfig(16, 4, 16, 2, 1, 0f);
        double lr = 0.5;
        Trainer whole = sgdTrainer(c, lr, 5), halves = sgdTrainer(c, lr, 5);
        Rng r = new Rng(4);
        int[] ids = new int[8 * 4], next = new int[8 * 4];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = r.nextInt(16);
            next[i] = r.nextInt(16);
        }
        float[] before = whole.params().values().whole().toFloatArray();
        StepStats one = whole.step(new Batch(ids, next, 8, 4));
        StepStats two = halves.step(
                new Batch(Arrays.copyOfRange(ids, 0, 16), Arrays.copyOfRange(next, 0, 16), 4, 4),
                new Batch(Arrays.copyOfRange(ids, 16, 32), Arrays.copyOfRange(next, 16, 32), 4, 4));
        assertThat(two.loss()).isCloseTo(one.loss(), within(1e-6));
        assertThat(two.gradNorm()).isCloseTo(one.gradNorm(), within(1e-6 * one.gradNorm()));
        float[] a = whole.params().values().whole().toFloatArray(), b = halves.params().values().whole().toFloatArray();
        double largest = 0;
        for (int i = 0; i < a.length; i++) {
            double ga = (before[i] - a[i]) / lr, gb = (before[i] - b[i]) / lr; // the gradient each step applied
            largest = Math.max(largest, Math.abs(ga));
            assertThat(gb).as("gradient of parameter %d", i).isCloseTo(ga, within(1e-6));
        }
        assertThat(largest).as("the step moved the weights").isGreaterThan(1e-2);
    }

    @Test
    void stepReportsItsMemory() {
        MemoryTracker tracker = new MemoryTracker();
        try (var installed = MemoryTracker.install(tracker)) {
            GptConfig c = new GptConfig(16, 4, 16, 2, 1, 0f);
            Trainer t = trainer(c, 1e-3, 1);
            int[] ids = new int[8];
            StepStats s = t.step(new Batch(ids, ids, 2, 4));
            long params = t.model().parameterCount() * 4;
            assertThat(s.peakBytes().get(Category.PARAMETER)).isEqualTo(params);
            assertThat(s.peakBytes().get(Category.OPTIMIZER_STATE)).isEqualTo(2 * params);
            assertThat(s.peakBytes().get(Category.ACTIVATION)).isPositive();
            assertThat(s.currentBytes().get(Category.ACTIVATION)).isZero();
            assertThat(s.currentBytes().get(Category.TEMPORARY)).isZero();
            assertThat(s.tokens()).isEqualTo(8);
        }
    }
}
