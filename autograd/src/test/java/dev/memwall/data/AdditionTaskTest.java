package dev.memwall.data;

import dev.memwall.autograd.Scope;
import dev.memwall.autograd.Tensor;
import dev.memwall.memory.MemoryTracker;
import dev.memwall.nn.Gpt;
import dev.memwall.nn.GptConfig;
import dev.memwall.rng.Rng;
import org.junit.jupiter.api.Test;

import java.util.HashSet;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class AdditionTaskTest {
    static final int I = Batch.IGNORE;

    /** Reads a and b back from a prefix (row-major) and returns the true next answer byte: a perfect oracle. */
    static NextByte oracle(AdditionTask task) {
        int d = task.digits();
        return (prefixes, batch, width) -> {
            int[] out = new int[batch];
            for (int r = 0; r < batch; r++) {
                int a = 0, b = 0;
                for (int k = 0; k < d; k++) {
                    a = a * 10 + prefixes[r * width + k] - '0';
                    b = b * 10 + prefixes[r * width + d + 1 + k] - '0';
                }
                int k = width - task.answerStart();       // which answer byte comes next
                out[r] = task.answer(a, b).charAt(k);
            }
            return out;
        };
    }

    @Test
    void encodesAKnownExampleByteByByte() {
        AdditionTask task = new AdditionTask(3);
        assertThat(task.context()).isEqualTo(13);
        assertThat(task.answerStart()).isEqualTo(8);
        assertThat(task.prompt(123, 45)).isEqualTo("123+045=");
        assertThat(task.answer(123, 45)).isEqualTo("8610");
        assertThat(task.answer(999, 999)).isEqualTo("8991");        // 1998
        assertThat(task.answer(0, 7)).isEqualTo("7000");
        assertThat(task.encode(123, 45)).containsExactly('1', '2', '3', '+', '0', '4', '5', '=', '8', '6', '1', '0', '\n');
    }

    @Test
    void targetsCoverOnlyTheAnswer() {
        AdditionTask task = new AdditionTask(3);
        Batch b = task.trainBatch(8, new Rng(3));
        assertThat(b.context()).isEqualTo(13);
        assertThat(b.countedTargets()).isEqualTo(8 * 5);
        for (int r = 0; r < 8; r++) {
            int[] ids = b.rowIds(r), targets = b.rowTargets(r);
            assertThat(ids[3]).isEqualTo('+');
            assertThat(ids[7]).isEqualTo('=');
            assertThat(ids[12]).isEqualTo('\n');
            for (int t = 0; t < 13; t++) {
                if (t >= 7 && t <= 11) assertThat(targets[t]).isEqualTo(ids[t + 1]);
                else assertThat(targets[t]).isEqualTo(I);
            }
        }
        // the known example through the batch path: targets "8610\n" at positions 7..11
        AdditionTask two = new AdditionTask(2);
        Batch e = two.evalBatch(0, 1);
        int[] row = e.rowIds(0);
        assertThat(e.rowTargets(0)).containsExactly(I, I, I, I, I, row[6], row[7], row[8], '\n', I);
        assertThat(AdditionTask.decodeExample(e, 0)).matches("\\d\\d\\+\\d\\d=\\d\\d\\d\\\\n");
    }

    @Test
    void rowsAreCorrectSums() {
        AdditionTask task = new AdditionTask(4);
        Batch b = task.trainBatch(64, new Rng(11));
        for (int r = 0; r < 64; r++) {
            String s = AdditionTask.render(b.rowIds(r));
            int a = Integer.parseInt(s.substring(0, 4)), c = Integer.parseInt(s.substring(5, 9));
            String sum = new StringBuilder(s.substring(10, 15)).reverse().toString();
            assertThat(Integer.parseInt(sum)).isEqualTo(a + c);
            assertThat(s).endsWith("\\n");
        }
    }

    @Test
    void heldOutPairsNeverAppearInTraining() {
        for (int digits : new int[]{1, 2, 3}) {
            AdditionTask task = new AdditionTask(digits);
            int d = digits;
            Rng rng = new Rng(99);
            Set<String> seenTrain = new HashSet<>();
            for (int k = 0; k < 200; k++) {
                Batch b = task.trainBatch(32, rng);
                for (int r = 0; r < 32; r++) {
                    String s = AdditionTask.render(b.rowIds(r));
                    int a = Integer.parseInt(s.substring(0, d)), c = Integer.parseInt(s.substring(d + 1, 2 * d + 1));
                    assertThat(task.isHeldOut(a, c)).as("%s in training", s).isFalse();
                    seenTrain.add(s.substring(0, 2 * d + 1));
                }
            }
            Set<String> heldOut = new HashSet<>();
            for (int index = 0; index < 4; index++) {
                Batch e = task.evalBatch(index, 16);
                for (int r = 0; r < 16; r++) {
                    String s = AdditionTask.render(e.rowIds(r));
                    int a = Integer.parseInt(s.substring(0, d)), c = Integer.parseInt(s.substring(d + 1, 2 * d + 1));
                    assertThat(task.isHeldOut(a, c)).isTrue();
                    heldOut.add(s.substring(0, 2 * d + 1));
                }
            }
            assertThat(heldOut).doesNotContainAnyElementsOf(seenTrain);
        }
    }

    @Test
    void splitIsAboutTenPercentAndEnumeratedForSmallDigits() {
        AdditionTask two = new AdditionTask(2);
        assertThat(two.heldOutSize()).isBetween(850, 1150);       // ~10% of 10^4 pairs
        int count = 0;
        for (int a = 0; a < 100; a++) for (int b = 0; b < 100; b++) if (two.isHeldOut(a, b)) count++;
        assertThat(count).isEqualTo(two.heldOutSize());
        assertThat(new AdditionTask(1).heldOutSize()).isPositive();
        assertThat(new AdditionTask(3).heldOutSize()).isEqualTo(-1);
        // distinct held-out examples for large digits
        AdditionTask three = new AdditionTask(3);
        Batch e = three.evalBatch(0, 500);
        Set<String> rows = new HashSet<>();
        for (int r = 0; r < 500; r++) rows.add(AdditionTask.render(e.rowIds(r)));
        assertThat(rows).hasSize(500);
    }

    @Test
    void evalBatchesAreDeterministic() {
        Batch x = new AdditionTask(3).evalBatch(2, 8);
        AdditionTask other = new AdditionTask(3);
        other.evalBatch(5, 8);                                      // order of requests does not matter
        assertThat(other.evalBatch(2, 8)).isEqualTo(x);
        assertThat(new AdditionTask(3).evalBatch(0, 24).rowIds(17)).containsExactly(x.rowIds(1));
        assertThat(new AdditionTask(3).evalBatch(3, 8)).isNotEqualTo(x);
        assertThat(new AdditionTask(3).trainBatch(8, new Rng(5))).isEqualTo(new AdditionTask(3).trainBatch(8, new Rng(5)));
    }

    @Test
    void oracleScoresOneAndWrongPredictorScoresZero() {
        for (int digits : new int[]{1, 2, 3}) {
            AdditionTask task = new AdditionTask(digits);
            assertThat(task.exactMatchAccuracy(oracle(task), 100, 7)).isEqualTo(1.0);
            NextByte alwaysZero = (p, batch, width) -> new int[batch];
            assertThat(task.exactMatchAccuracy(alwaysZero, 100, 7)).isEqualTo(0.0);
        }
        // wrong only in the last answer digit: still no exact match unless that digit happens to be right
        AdditionTask task = new AdditionTask(2);
        NextByte good = oracle(task);
        NextByte lastWrong = (p, batch, width) -> {
            int[] out = good.next(p, batch, width);
            if (width == task.answerStart() + task.digits()) for (int r = 0; r < batch; r++) out[r] = 'x';
            return out;
        };
        assertThat(task.exactMatchAccuracy(lastWrong, 50, 16)).isEqualTo(0.0);
        assertThat(task.completion(good, 12, 9)).isEqualTo("12+09=21");
        assertThat(task.completion(good, 99, 99)).isEqualTo("99+99=198");
        assertThat(task.completion(good, 0, 0)).isEqualTo("00+00=0");
        assertThat(task.completion(lastWrong, 12, 9)).isEqualTo("12+09=x21");
    }

    @Test
    void untrainedGptRunsAndReleasesItsTensors() {
        AdditionTask task = new AdditionTask(2);
        Gpt model = new Gpt(new GptConfig(256, task.context(), 16, 2, 1, 0f), new Rng(1));
        MemoryTracker tracker = new MemoryTracker();
        try (var installed = MemoryTracker.install(tracker)) {
            double acc = task.exactMatchAccuracy(model, 20, 8);
            assertThat(acc).isBetween(0.0, 1.0);
        }
        assertThat(tracker.allocationCount()).isPositive();
        assertThat(tracker.currentTotal()).as("every temporary released").isZero();
        assertThat(model.isTraining()).isTrue();
        assertThat(task.sampleCompletion(model, 12, 34)).startsWith("12+34=");
        // the batch tensors feed the model's loss
        try (Scope s = Scope.open()) {
            Batch b = task.trainBatch(4, new Rng(2));
            Tensor loss = model.loss(b.idsTensor(), b.targetsTensor());
            assertThat(Float.isFinite(loss.item())).isTrue();
        }
        Gpt tooShort = new Gpt(new GptConfig(256, 8, 16, 2, 1, 0f), new Rng(1));
        assertThatThrownBy(() -> task.exactMatchAccuracy(tooShort, 4, 4)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("context");
    }
}
