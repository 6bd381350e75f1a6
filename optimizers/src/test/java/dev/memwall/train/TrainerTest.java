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

import static org.assertj.core.api.Assertions.assertThat;

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

    @Test
    void accumulationOfTwoHalvesEqualsOneBatch() {
        GptConfig c = new GptConfig(16, 4, 16, 2, 1, 0f);
        // Plain SGD without clipping, so the update is proportional to the accumulated gradient: AdamW's first step,
        // g/(|g| + eps), is blind to a wrong scale and turns the rounding noise of a gradient that is exactly zero (the
        // key bias: softmax ignores a constant added to a row of scores) into updates of up to lr.
        Trainer whole = sgdTrainer(c, 1e-2, 5), halves = sgdTrainer(c, 1e-2, 5);
        Rng r = new Rng(4);
        int[] ids = new int[8 * 4], next = new int[8 * 4];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = r.nextInt(16);
            next[i] = r.nextInt(16);
        }
        whole.step(new Batch(ids, next, 8, 4));
        halves.step(new Batch(java.util.Arrays.copyOfRange(ids, 0, 16), java.util.Arrays.copyOfRange(next, 0, 16), 4, 4),
                new Batch(java.util.Arrays.copyOfRange(ids, 16, 32), java.util.Arrays.copyOfRange(next, 16, 32), 4, 4));
        float[] a = whole.params().values().whole().toFloatArray(), b = halves.params().values().whole().toFloatArray();
        for (int i = 0; i < a.length; i++) assertThat(b[i]).isCloseTo(a[i], org.assertj.core.data.Offset.offset(2e-6f));
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
