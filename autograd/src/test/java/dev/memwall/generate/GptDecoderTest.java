package dev.memwall.generate;

import dev.memwall.autograd.GradMode;
import dev.memwall.autograd.Guard;
import dev.memwall.autograd.Scope;
import dev.memwall.autograd.Tensor;
import dev.memwall.memory.Category;
import dev.memwall.memory.MemoryTracker;
import dev.memwall.nn.Gpt;
import dev.memwall.nn.GptConfig;
import dev.memwall.rng.Rng;
import org.junit.jupiter.api.Test;

import java.util.Arrays;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The KV-cached decoder against the model's own full forward (no cache, causal softmax over the whole sequence): the
 * logits at every position, prefill and decode alike, agree to float rounding; the cache's bytes are counted exactly.
 */
class GptDecoderTest {
    static final GptConfig CONFIG = new GptConfig(40, 12, 24, 3, 3, 0.1f); // dropout must be off in generation

    static Gpt model(long seed, boolean flat) {
        Gpt m = new Gpt(CONFIG, new Rng(seed));
        if (flat) m.flatten(); // parameters become views at offsets into one buffer
        m.train(false);
        return m;
    }

    static int[] tokens(long seed, int n) {
        Rng r = new Rng(seed);
        int[] ids = new int[n];
        for (int i = 0; i < n; i++) ids[i] = r.nextInt(CONFIG.vocab());
        return ids;
    }

    /** Logits [T, V] of a full forward of {@code ids}, as a plain array. */
    static float[] fullForward(Gpt m, int[] ids) {
        try (Scope s = Scope.open(); Guard g = GradMode.noGrad()) {
            return m.forward(Tensor.ints(ids, 1, ids.length)).toFloatArray();
        }
    }

    static void assertRowClose(float[] actual, int actualOff, float[] expected, int expectedOff, String what) {
        int v = CONFIG.vocab();
        double scale = 0;
        for (int j = 0; j < v; j++) scale = Math.max(scale, Math.abs(expected[expectedOff + j]));
        for (int j = 0; j < v; j++) {
            assertThat((double) actual[actualOff + j]).as("%s, logit %d", what, j)
                    .isCloseTo(expected[expectedOff + j], org.assertj.core.api.Assertions.within(1e-5 * (1 + scale)));
        }
    }

    @Test
    void prefillAndEveryDecodeStepMatchTheFullForward() {
        for (boolean flat : new boolean[]{false, true}) {
            Gpt m = model(1, flat);
            int[] ids = tokens(2, CONFIG.context());
            float[] full = fullForward(m, ids);
            int v = CONFIG.vocab(), prompt = 5;
            try (Scope s = Scope.open(); GptDecoder d = new GptDecoder(m)) {
                float[] pre = d.prefill(Arrays.copyOf(ids, prompt)).toFloatArray();
                assertThat(pre).hasSize(prompt * v);
                for (int i = 0; i < prompt; i++) assertRowClose(pre, i * v, full, i * v, "prefill position " + i + (flat ? " (flat)" : ""));
                for (int i = prompt; i < ids.length; i++) {
                    float[] step = d.decode(ids[i]).toFloatArray();
                    assertThat(d.length()).isEqualTo(i + 1);
                    assertRowClose(step, 0, full, i * v, "decode position " + i + (flat ? " (flat)" : ""));
                }
                assertThatThrownBy(() -> d.decode(0)).isInstanceOf(IllegalStateException.class).hasMessageContaining("full");
            }
        }
    }

    @Test
    void prefillStartsOverAndAOneTokenPrefillIsTheFirstPosition() {
        Gpt m = model(3, false);
        int[] ids = tokens(4, 7);
        float[] full = fullForward(m, ids);
        try (Scope s = Scope.open(); GptDecoder d = new GptDecoder(m)) {
            d.prefill(tokens(5, 9));
            float[] first = d.prefill(new int[]{ids[0]}).toFloatArray();
            assertThat(d.length()).isEqualTo(1);
            assertRowClose(first, 0, full, 0, "position 0 after a new prefill");
            for (int i = 1; i < ids.length; i++) {
                assertRowClose(d.decode(ids[i]).toFloatArray(), 0, full, i * CONFIG.vocab(), "position " + i);
            }
            assertThatThrownBy(() -> d.prefill(new int[0])).isInstanceOf(IllegalArgumentException.class);
            assertThatThrownBy(() -> d.prefill(tokens(6, CONFIG.context() + 1))).isInstanceOf(IllegalArgumentException.class);
        }
    }

    /** K and V of every layer for the whole context: 2 · layers · context · dim floats, and none once generation ends. */
    @Test
    void kvCacheBytesAreCountedExactlyAndReleased() {
        Gpt m = model(7, false);
        long expected = 2L * CONFIG.layers() * CONFIG.context() * CONFIG.dim() * Float.BYTES;
        try (MemoryTracker.Installed t = MemoryTracker.install(new MemoryTracker())) {
            MemoryTracker tracker = MemoryTracker.current();
            try (Scope s = Scope.open(); GptDecoder d = new GptDecoder(m)) {
                assertThat(tracker.current(Category.KV_CACHE)).isEqualTo(expected);
                d.prefill(tokens(8, 4)).release();
                d.decode(3).release();
                assertThat(tracker.current(Category.KV_CACHE)).as("preallocated, does not grow").isEqualTo(expected);
            }
            assertThat(tracker.current(Category.KV_CACHE)).isZero();
            assertThat(tracker.peak(Category.KV_CACHE)).isEqualTo(expected);
            Generator.generate(m, tokens(9, 3), 20, new Sampler(1f, 0, new Rng(1)), id -> { });
            assertThat(tracker.current(Category.KV_CACHE)).as("after Generator.generate").isZero();
            assertThat(tracker.current(Category.TEMPORARY)).as("no temporary left behind").isZero();
            assertThat(tracker.current(Category.ACTIVATION)).as("nothing saved for backward").isZero();
            assertThat(tracker.peak(Category.ACTIVATION)).isZero();
        }
    }
}
