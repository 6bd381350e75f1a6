package dev.memwall.samediff;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class OptionsTest {
    @Test
    void defaultsAreTheBenchmarkModel() {
        Options o = Options.parse();
        assertThat(new int[]{o.batch, o.ctx, o.dim, o.heads, o.layers, o.steps, o.warmup, o.threads})
                .containsExactly(16, 128, 256, 4, 6, 10, 1, 2);
        assertThat(o.gelu).isEqualTo(GptGraph.Gelu.TANH);
        assertThat(o.gc).isTrue();
        assertThat(o.log).isFalse();
    }

    @Test
    void bothSpellingsAreRead() {
        Options o = Options.parse("--layers", "2", "--steps=3", "--gelu", "sigmoid", "--log", "--no-gc");
        assertThat(o.layers).isEqualTo(2);
        assertThat(o.steps).isEqualTo(3);
        assertThat(o.gelu).isEqualTo(GptGraph.Gelu.SIGMOID);
        assertThat(o.log).isTrue();
        assertThat(o.gc).isFalse();
    }

    @Test
    void badInputIsNamed() {
        assertThatThrownBy(() -> Options.parse("--ckpt")).hasMessageContaining("unknown option --ckpt");
        assertThatThrownBy(() -> Options.parse("--steps")).hasMessageContaining("--steps needs a value");
        assertThatThrownBy(() -> Options.parse("--steps", "x")).hasMessageContaining("--steps takes a number, not x");
        assertThatThrownBy(() -> Options.parse("--steps", "0")).hasMessageContaining("--steps must be >= 1");
        assertThatThrownBy(() -> Options.parse("--gelu", "erf")).hasMessageContaining("--gelu takes tanh");
    }
}
