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

    @Test
    void installRejectsAPolicyThatDoesNotCoverEveryBlock() {
        dev.memwall.nn.Gpt model = new dev.memwall.nn.Gpt(new dev.memwall.nn.GptConfig(40, 8, 16, 2, 4, 0f), new dev.memwall.rng.Rng(1));
        assertThatThrownBy(() -> Checkpointing.install(model, Policy.everyLayer(3)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("covers blocks [0, 3)").hasMessageContaining("4 blocks");
        assertThatThrownBy(() -> Checkpointing.install(model, Policy.none(5))).hasMessageContaining("4 blocks");
        assertThatThrownBy(() -> Checkpointing.install(model, new Policy("gap", java.util.List.of(new int[]{0, 1, Policy.RECOMPUTE}, new int[]{2, 4, Policy.KEEP}))))
                .hasMessageContaining("leaves blocks [1, 2) out");
        assertThatThrownBy(() -> Checkpointing.install(model, new Policy("overlap", java.util.List.of(new int[]{0, 2, Policy.RECOMPUTE}, new int[]{1, 4, Policy.KEEP}))))
                .hasMessageContaining("overlaps");
        assertThatThrownBy(() -> Checkpointing.install(model, new Policy("mode", java.util.List.of(new int[]{0, 4, 7}))))
                .hasMessageContaining("unknown mode 7");
        Checkpointing.install(model, Policy.everyK(4, 3)); // [0, 3) and [3, 4): fine
    }
}
