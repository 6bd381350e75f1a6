package dev.memwall.train;

import dev.memwall.data.AdditionTask;
import dev.memwall.nn.FlatParameters;
import dev.memwall.nn.Gpt;
import dev.memwall.nn.GptConfig;
import dev.memwall.optim.AdamW;
import dev.memwall.optim.LrSchedule;
import dev.memwall.precision.MixedPrecision;
import dev.memwall.precision.Precision;
import dev.memwall.rng.Rng;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * A run trained in FP8, saved after K steps and resumed for K more, is bit-identical to 2K uninterrupted steps: delayed
 * scaling's amax histories travel in the checkpoint; the stateless recipes need nothing.
 */
class Fp8TrainingStateTest {
    private static final GptConfig CONFIG = new GptConfig(256, 10, 32, 2, 2, 0f);
    private static final AdditionTask TASK = new AdditionTask(2);
    private static final int K = 4;

    private record Run(Trainer trainer, MixedPrecision mixed, Rng data) {
        Map<String, Rng> rngs() {
            return Map.of("data", data);
        }
    }

    private static Run newRun(Precision p) {
        Gpt model = new Gpt(CONFIG, new Rng(1));
        FlatParameters flat = model.flatten();
        AdamW opt = new AdamW(flat, AdamW.Config.defaults(2e-3));
        MixedPrecision mp = MixedPrecision.of(p);
        return new Run(new Trainer(model, flat, opt, LrSchedule.constant(2e-3), 1.0).mixedPrecision(mp), mp, new Rng(2));
    }

    private static long[] steps(Run r, int n) {
        long[] bits = new long[n];
        for (int i = 0; i < n; i++) bits[i] = Double.doubleToRawLongBits(r.trainer().step(TASK.trainBatch(8, r.data())).loss());
        return bits;
    }

    @ParameterizedTest
    @EnumSource(value = Precision.class, names = {"FP8", "FP8_CURRENT", "FP8_BLOCKWISE", "MXFP8"})
    void resumedFp8RunIsBitIdenticalToAnUninterruptedOne(Precision p, @TempDir Path dir) throws IOException {
        Run straight = newRun(p);
        steps(straight, K);
        long[] straightLosses = steps(straight, K);

        Run first = newRun(p);
        steps(first, K);
        TrainingState.save(dir, first.trainer(), first.rngs(), null);
        assertThat(Files.exists(dir.resolve(String.format("step-%06d", K)).resolve(Fp8Checkpoint.NAME)))
                .as("only delayed scaling has state to save").isEqualTo(p == Precision.FP8);
        Run resumed = newRun(p);
        TrainingState.resume(dir, resumed.trainer(), resumed.rngs());
        long[] resumedLosses = steps(resumed, K);

        assertThat(resumedLosses).as("losses of steps K+1..2K, bit for bit").containsExactly(straightLosses);
        assertThat(resumed.trainer().params().values().whole().toFloatArray())
                .containsExactly(straight.trainer().params().values().whole().toFloatArray());
        Map<String, float[]> a = straight.mixed().fp8().toArrays(), b = resumed.mixed().fp8().toArrays();
        assertThat(b.keySet()).containsExactlyElementsOf(a.keySet());
        a.forEach((k, v) -> assertThat(b.get(k)).as(k).containsExactly(v));
    }

    @Test
    void theHistoriesAreCoveredByTheManifestAndRefusedOutsideFp8(@TempDir Path dir) throws IOException {
        Run first = newRun(Precision.FP8);
        steps(first, 1);
        Path step = TrainingState.save(dir, first.trainer(), first.rngs(), null);
        assertThat(Files.readString(step.resolve(CheckpointManifest.NAME))).contains("\"fp8_state\"").contains(Fp8Checkpoint.NAME);

        Run fp32 = newRun(Precision.FP32);
        assertThatThrownBy(() -> TrainingState.resume(dir, fp32.trainer(), fp32.rngs()))
                .hasMessageContaining("holds FP8 amax histories, but this run does not train in FP8");

        byte[] bytes = Files.readAllBytes(step.resolve(Fp8Checkpoint.NAME));
        bytes[bytes.length - 1] ^= 1;
        Files.write(step.resolve(Fp8Checkpoint.NAME), bytes);
        Run again = newRun(Precision.FP8);
        assertThatThrownBy(() -> TrainingState.resume(dir, again.trainer(), again.rngs()))
                .hasMessageContaining(Fp8Checkpoint.NAME).hasMessageContaining("SHA-256");
    }
}
