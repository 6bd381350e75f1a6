package dev.memwall.nn;

import dev.memwall.memory.Category;
import dev.memwall.memory.MemoryTracker;
import dev.memwall.rng.Rng;
import org.junit.jupiter.api.Test;

import java.util.Arrays;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** flatten(multiple): buffers padded to N equal shards for ZeRO, the parameters where flatten() puts them. */
class FlattenPaddingTest {
    private static final GptConfig CONFIG = new GptConfig(16, 4, 8, 2, 1, 0f);

    @Test
    void buffersArePaddedWithZerosToAMultipleAndTheParametersStayPut() {
        long psi = new Gpt(CONFIG, new Rng(1)).parameterCount();
        int multiple = 11;
        assertThat(psi % multiple).as("the test needs padding").isNotZero();
        MemoryTracker tracker = new MemoryTracker();
        try (var installed = MemoryTracker.install(tracker)) {
            FlatParameters plain = new Gpt(CONFIG, new Rng(1)).flatten();
            long before = tracker.currentByCategory().getOrDefault(Category.PARAMETER, 0L);
            FlatParameters padded = new Gpt(CONFIG, new Rng(1)).flatten(multiple);
            long paddedLength = (psi + multiple - 1) / multiple * multiple;
            assertThat(padded.length()).isEqualTo(paddedLength);
            assertThat(padded.grads().length()).isEqualTo(paddedLength);
            assertThat(padded.count()).isEqualTo(psi).isEqualTo(plain.count()).isEqualTo(plain.length());
            assertThat(tracker.currentByCategory().get(Category.PARAMETER) - before).isEqualTo(4 * paddedLength);
            float[] v = padded.values().whole().toFloatArray();
            assertThat(Arrays.copyOf(v, (int) psi)).isEqualTo(plain.values().whole().toFloatArray());
            for (int i = (int) psi; i < v.length; i++) assertThat(v[i]).as("padding %d", i).isZero();
            for (int i = 0; i < plain.entries().size(); i++) {
                assertThat(padded.entries().get(i).offset()).isEqualTo(plain.entries().get(i).offset());
            }
        }
    }

    @Test
    void aMultipleBelowOneIsRefused() {
        assertThatThrownBy(() -> new Gpt(CONFIG, new Rng(1)).flatten(0)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("multiple 0");
    }
}
