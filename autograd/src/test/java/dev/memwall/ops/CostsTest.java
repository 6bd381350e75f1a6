package dev.memwall.ops;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** The KV-cache attention counts of {@link Costs} on small cases counted element by element. */
class CostsTest {
    @Test
    void visibleScoresOfNewPositionsAfterTheCache() {
        assertThat(Costs.cachedVisible(2, 3, 4)).isEqualTo(2 * (5 + 6 + 7)); // rows see 5, 6, 7 keys, in each of 2 heads
        assertThat(Costs.cachedVisible(1, 4, 0)).isEqualTo(1 + 2 + 3 + 4); // a prefill: the causal triangle
        assertThat(Costs.cachedVisible(4, 1, 127)).isEqualTo(4 * 128); // one decode step at position 127
    }

    @Test
    void productsOverTheCacheCountEveryKeyRowOnce() {
        // one decode step, 2 heads of 16, 10 keys: per head a 1×16 · 16×10 product
        assertThat(Costs.cachedGemmFlops(2, 1, 10, 16)).isEqualTo(2 * 2 * 10 * 16);
        // per head: q 16 floats, 10 cached rows of 16, 10 scores out
        assertThat(Costs.cachedGemmBytes(2, 1, 10, 16)).isEqualTo(2 * 4 * (16 + 160 + 10));
        // matrix-vector: FLOPs per byte tends to 2 per 4-byte cached float
        assertThat(Costs.cachedGemmFlops(1, 1, 1000, 64) / Costs.cachedGemmBytes(1, 1, 1000, 64)).isBetween(0.49, 0.5);
    }

    @Test
    void softmaxReadsTheVisibleScoresAndWritesTheRow() {
        assertThat(Costs.cachedSoftmaxFlops(2, 1, 4)).isEqualTo(Costs.SOFTMAX_FORWARD * 10);
        assertThat(Costs.cachedSoftmaxBytes(2, 2, 1)).isEqualTo(4 * (2 + 3) * 2 + 4 * 2 * 2 * 3);
    }

    @Test
    void copiesAndTheEmbedding() {
        assertThat(Costs.splitHeadsBytes(2, 8)).isEqualTo(4 * (2 * 24) + 4 * (3 * 2 * 8)); // qkv in; q, k, v out
        assertThat(Costs.mergeHeadsBytes(2, 8)).isEqualTo(4 * 16 * 2);
        assertThat(Costs.embedFlops(3, 8)).isEqualTo(24);
        assertThat(Costs.embedBytes(3, 8)).isEqualTo(4 * 3 + 4 * 24 * 3); // ids, token rows, position rows, output
    }
}
