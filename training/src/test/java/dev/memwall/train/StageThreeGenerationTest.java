package dev.memwall.train;

import dev.memwall.generate.Generator;
import dev.memwall.generate.Sampler;
import dev.memwall.memory.Category;
import dev.memwall.memory.MemoryTracker;
import dev.memwall.nn.Gpt;
import dev.memwall.nn.GptConfig;
import dev.memwall.rng.Rng;
import dev.memwall.sharding.ProcessGroup;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Generation from a model sharded at ZeRO stage 3: the decoder reads each unit's parameters inside that unit's
 * window, which gathers it (every rank generating alike), so it samples what the unsharded model samples; between
 * calls the parameters are released again.
 */
@Timeout(600)
class StageThreeGenerationTest {
    /** Context 8 and 12 new tokens after a 3-token prompt: the window slides (re-prefills) too. */
    static final GptConfig CONFIG = new GptConfig(32, 8, 32, 2, 2, 0f);
    static final int[] PROMPT = {3, 1, 4};
    static final int TOKENS = 12;

    static int[] generate(Gpt model) {
        return Generator.generate(model, PROMPT, TOKENS, new Sampler(0.8f, 0, new Rng(5)), id -> { });
    }

    @Test
    void aStageThreeModelSamplesWhatTheUnshardedModelSamples() {
        int[] expected = generate(new Gpt(CONFIG, new Rng(7)));
        MemoryTracker tracker = MemoryTracker.current();
        long communication = tracker.current(Category.COMMUNICATION);
        Gpt sharded = new Gpt(CONFIG, new Rng(7));
        DataParallel.of(sharded, ProcessGroup.single(), ZeroStage.STAGE_3);
        assertThat(generate(sharded)).isEqualTo(expected);
        assertThat(tracker.current(Category.COMMUNICATION)).as("no unit left gathered").isEqualTo(communication);
        assertThatThrownBy(() -> sharded.namedParameters().get("tok.weight").data()).hasMessageContaining("released");
        // on two ranks, each generating alike, every rank samples the same tokens
        List<int[]> ranks = Ranks.run(2, g -> {
            Gpt model = new Gpt(CONFIG, new Rng(7));
            DataParallel.of(model, g, ZeroStage.STAGE_3);
            return generate(model);
        });
        assertThat(ranks).allSatisfy(tokens -> assertThat(tokens).isEqualTo(expected));
    }
}
