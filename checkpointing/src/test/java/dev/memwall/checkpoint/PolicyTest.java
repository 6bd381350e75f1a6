package dev.memwall.checkpoint;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class PolicyTest {
    @Test
    void namesParseToTheirSegments() {
        assertThat(Policy.parse("none", 4).checkpointsAnything()).isFalse();
        assertThat(Policy.parse("EVERY_LAYER", 4).segments()).hasSize(4);
        assertThat(Policy.parse("every_k(3)", 7).describe()).isEqualTo("EVERY_K(3): recompute [0, 3) recompute [3, 6) recompute [6, 7)");
        assertThat(Policy.parse("EVERY_K:2", 4).name()).isEqualTo("EVERY_K(2)");
        assertThat(Policy.parse("SQRT", 9).segments()).hasSize(3);
        assertThat(Policy.parse("Selective", 5).describe()).isEqualTo("SELECTIVE: selective [0, 5)");
        assertThatThrownBy(() -> Policy.parse("HALF", 4)).hasMessageContaining("unknown checkpoint policy 'HALF'").hasMessageContaining("SELECTIVE");
        assertThatThrownBy(() -> Policy.parse("EVERY_K(0)", 4)).hasMessageContaining("k >= 1");
        assertThatThrownBy(() -> Policy.parse("BUDGET(100)", 4)).hasMessageContaining("needs a profile");
    }

    @Test
    void budgetSizesParseWithUnits() {
        assertThat(Policy.parseBudget("SQRT")).isNull();
        assertThat(Policy.parseBudget("BUDGET(300000000)")).isEqualTo(300_000_000L);
        assertThat(Policy.parseBudget("budget:300M")).isEqualTo(300L << 20);
        assertThat(Policy.parseBudget("BUDGET(2GiB)")).isEqualTo(2L << 30);
        assertThat(Policy.parseBudget("BUDGET( 64 KiB )")).isEqualTo(64L << 10);
        assertThat(Policy.parseBudget("BUDGET(1_000)")).isEqualTo(1000L);
        for (String bad : new String[]{"BUDGET", "BUDGET()", "BUDGET(abc)", "BUDGET(0)", "BUDGET(-5)", "BUDGET(5TB)", "BUDGET(99999999999999999999)",
                "BUDGET(9000000000G)"}) {
            assertThatThrownBy(() -> Policy.parseBudget(bad)).as(bad).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("BUDGET");
        }
    }
}
