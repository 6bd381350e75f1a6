package dev.memwall.generate;

import dev.memwall.nn.Gpt;
import dev.memwall.rng.Rng;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static dev.memwall.generate.GptDecoderTest.CONFIG;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The generation loop against greedy decoding by full recompute, past the end of the context; sampling options. */
class GeneratorTest {
    /** Greedy by full forward of the last min(length, context) tokens for every new token: no cache at all. */
    static int[] greedyByFullRecompute(Gpt m, int[] prompt, int tokens) {
        int ctx = CONFIG.context(), v = CONFIG.vocab();
        List<Integer> seq = new ArrayList<>();
        for (int id : prompt) seq.add(id);
        int[] out = new int[tokens];
        for (int i = 0; i < tokens; i++) {
            int from = Math.max(0, seq.size() - ctx);
            int[] window = seq.subList(from, seq.size()).stream().mapToInt(Integer::intValue).toArray();
            float[] logits = GptDecoderTest.fullForward(m, window);
            out[i] = Sampler.argmax(logits, (window.length - 1) * v, v);
            seq.add(out[i]);
        }
        return out;
    }

    static int[] generate(Gpt m, int[] prompt, int tokens, Sampler s) {
        List<Integer> streamed = new ArrayList<>();
        int[] result = Generator.generate(m, prompt, tokens, s, streamed::add);
        assertThat(streamed).as("each token streamed once, in order").containsExactly(Arrays.stream(result).boxed().toArray(Integer[]::new));
        return result;
    }

    /** 3 + 30 tokens in a context of 12: the cache fills after 9 new tokens and the window slides for the other 21. */
    @Test
    void greedyWithTheCacheEqualsGreedyByFullRecomputeTokenForToken() {
        for (long seed = 0; seed < 3; seed++) {
            Gpt m = GptDecoderTest.model(10 + seed, false);
            int[] prompt = GptDecoderTest.tokens(20 + seed, 3);
            int[] expected = greedyByFullRecompute(m, prompt, 30);
            assertThat(generate(m, prompt, 30, new Sampler(0f, 0, new Rng(seed)))).as("seed %d", seed).containsExactly(expected);
        }
    }

    @Test
    void topKOneIsGreedyAtAnyTemperature() {
        Gpt m = GptDecoderTest.model(11, false);
        int[] prompt = GptDecoderTest.tokens(21, 4);
        int[] greedy = generate(m, prompt, 25, new Sampler(0f, 0, new Rng(0)));
        for (float temperature : new float[]{0.5f, 1f, 3f}) {
            assertThat(generate(m, prompt, 25, new Sampler(temperature, 1, new Rng(5)))).containsExactly(greedy);
        }
        assertThat(generate(m, prompt, 25, new Sampler(1f, 0, new Rng(5)))).as("sampling is not greedy here").isNotEqualTo(greedy);
    }

    @Test
    void theSameSeedGivesTheSameTokens() {
        Gpt m = GptDecoderTest.model(12, false);
        int[] prompt = GptDecoderTest.tokens(22, 2);
        int[] a = generate(m, prompt, 20, new Sampler(1f, 5, new Rng(42)));
        assertThat(generate(m, prompt, 20, new Sampler(1f, 5, new Rng(42)))).containsExactly(a);
        assertThat(generate(m, prompt, 20, new Sampler(1f, 5, new Rng(43)))).isNotEqualTo(a);
        assertThat(generate(m, prompt, 0, new Sampler(1f, 5, new Rng(42)))).isEmpty();
    }

    @Test
    void topKOnlyDrawsFromTheKLargestLogits() {
        float[] logits = {0.5f, 3f, -1f, 2.9f, 2.95f, 0f};
        Sampler s = new Sampler(5f, 2, new Rng(3));
        boolean[] seen = new boolean[logits.length];
        for (int i = 0; i < 300; i++) seen[s.sample(logits, 0, logits.length)] = true;
        assertThat(seen).containsExactly(false, true, false, false, true, false);
        Sampler all = new Sampler(5f, 0, new Rng(3));
        for (int i = 0; i < 300; i++) seen[all.sample(logits, 0, logits.length)] = true;
        assertThat(seen).as("without top-k every token is drawn at a high temperature").containsOnly(true);
    }

    @Test
    void greedyTakesTheLowestIdOnATieAndOptionsAreChecked() {
        assertThat(Sampler.argmax(new float[]{9f, 1f, 4f, 4f, 2f}, 1, 4)).isEqualTo(1);
        assertThat(new Sampler(0f, 0, new Rng(0)).sample(new float[]{1f, 7f, 7f}, 0, 3)).isEqualTo(1);
        assertThatThrownBy(() -> new Sampler(-0.1f, 0, new Rng(0))).hasMessageContaining("temperature");
        assertThatThrownBy(() -> new Sampler(Float.NaN, 0, new Rng(0))).hasMessageContaining("temperature");
        assertThatThrownBy(() -> new Sampler(1f, -1, new Rng(0))).hasMessageContaining("top-k");
        assertThatThrownBy(() -> new Sampler(1f, 4, new Rng(0)).sample(new float[3], 0, 3)).hasMessageContaining("vocabulary");
    }

    @Test
    void aFailureStillReleasesTheCache() {
        Gpt m = GptDecoderTest.model(13, false);
        var tracker = new dev.memwall.memory.MemoryTracker();
        try (var t = dev.memwall.memory.MemoryTracker.install(tracker)) {
            assertThatThrownBy(() -> Generator.generate(m, new int[]{1, 2}, 5, new Sampler(0f, 0, new Rng(0)), id -> {
                throw new IllegalStateException("consumer failed");
            })).hasMessage("consumer failed");
            assertThat(tracker.current(dev.memwall.memory.Category.KV_CACHE)).isZero();
            assertThat(tracker.current(dev.memwall.memory.Category.TEMPORARY)).isZero();
        }
    }
}
