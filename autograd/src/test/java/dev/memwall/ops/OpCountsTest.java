package dev.memwall.ops;

import dev.memwall.autograd.OpStats;
import dev.memwall.autograd.Scope;
import dev.memwall.autograd.Tensor;
import dev.memwall.memory.MemoryTracker;
import dev.memwall.memory.Phase;
import dev.memwall.rng.Rng;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Supplier;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * FLOPs and bytes each op records, against counts worked out by hand from the shapes: GEMMs 2·m·n·k, FP32 operands read
 * once and outputs written once (4 bytes an element), the fused kernels' per-element counts in {@link Costs}.
 */
class OpCountsTest {
    @AfterEach
    void off() {
        OpStats.enable(false);
        OpStats.reset();
    }

    private static Tensor leaf(int... shape) {
        return Tensor.randn(new Rng(7), 1f, shape).requiresGrad(true);
    }

    /** Runs {@code forward} in phase FORWARD and its backward with a ones gradient; rows keyed "op/phase". */
    private static Map<String, OpStats.Row> count(Supplier<Tensor> forward) {
        Map<String, OpStats.Row> m = new LinkedHashMap<>();
        try (var installed = MemoryTracker.install(new MemoryTracker()); Scope s = Scope.open()) {
            MemoryTracker.current().phase(Phase.FORWARD);
            OpStats.reset();
            OpStats.enable(true);
            Tensor y = forward.get();
            y.backward(Tensor.full(1f, y.shape()), false, false);
            OpStats.enable(false);
        }
        for (OpStats.Row r : OpStats.snapshot()) m.put(r.op() + "/" + r.phase().name().toLowerCase(), r);
        return m;
    }

    private static void expect(Map<String, OpStats.Row> rows, String key, double flops, double bytes) {
        assertThat(rows).as("rows %s", rows.keySet()).containsKey(key);
        OpStats.Row r = rows.get(key);
        assertThat(r.flops()).as("%s FLOPs", key).isEqualTo(flops);
        assertThat(r.bytes()).as("%s bytes", key).isEqualTo(bytes);
        assertThat(r.calls()).as("%s calls", key).isEqualTo(1);
    }

    @Test
    void linearForwardIsOneGemmPlusTheBiasAndBackwardTwoGemmsPlusTheBiasSum() {
        int n = 6, in = 4, out = 5; // x [2, 3, 4]: 6 rows
        Tensor x = leaf(2, 3, in), w = leaf(out, in), b = leaf(out);
        Map<String, OpStats.Row> r = count(() -> F.linear(x, w, b));
        expect(r, "linear/forward", 2.0 * n * in * out + n * out, 4.0 * (n * in + in * out + out + n * out));
        // dx = g·W and dW = gᵀ·x (each reads g, W or x, writes the other), db = column sums of g
        expect(r, "linear/backward", 2 * (2.0 * n * in * out) + n * out,
                4.0 * (n * out + out * in + n * in) * 2 + 4.0 * (n * out + out));
        assertThat(r).hasSize(2);
    }

    @Test
    void batchedMatmulCountsEveryBatchEntryAndItsBackwardTwice() {
        Tensor a = leaf(2, 3, 4), b = leaf(2, 4, 5);
        Map<String, OpStats.Row> r = count(() -> F.matmul(a, b, false, false));
        expect(r, "matmul/forward", 2.0 * 2 * 3 * 5 * 4, 4.0 * (24 + 40 + 30));
        expect(r, "matmul/backward", 2 * (2.0 * 2 * 3 * 5 * 4), 2 * 4.0 * (24 + 40 + 30));
    }

    @Test
    void causalSoftmaxCountsOnlyTheVisibleTriangle() {
        Tensor x = leaf(1, 2, 4, 4); // 2 matrices of 4×4: 10 visible entries each
        Map<String, OpStats.Row> r = count(() -> F.causalSoftmax(x, 0.5f));
        double visible = 2 * 10;
        expect(r, "causal_softmax/forward", Costs.SOFTMAX_FORWARD * visible, 4 * visible + 4.0 * 32);
        expect(r, "causal_softmax/backward", Costs.SOFTMAX_BACKWARD * visible, 8 * visible + 4.0 * 32);
    }

    @Test
    void fusedAttentionCountsOnlyTheBlocksItsGemmsMultiply() {
        int b = 2, t = 70, h = 2, hd = 3, d = h * hd, block = dev.memwall.kernels.AttentionKernel.block();
        long pairs = 0; // query i multiplies keys [0, end of its block)
        for (int i = 0; i < t; i++) pairs += Math.min(t, (i / block + 1) * block);
        assertThat(pairs).as("T is past one block, so blocks skip work").isLessThan((long) t * t);
        double gemm = 2.0 * b * h * pairs * hd, visible = Costs.causalElements(b * h, t);
        Tensor x = leaf(b, t, 3 * d);
        Map<String, OpStats.Row> r = count(() -> {
            Tensor p = FusedAttention.probs(x, h);
            Tensor y = FusedAttention.attend(x, p, h);
            p.release();
            return y;
        });
        assertThat(r.get("causal_attention_probs/forward").flops()).isEqualTo(gemm + Costs.SOFTMAX_FORWARD * visible);
        assertThat(r.get("causal_attention/forward").flops()).isEqualTo(gemm);
        assertThat(r.get("causal_attention/backward").flops()).isEqualTo(4 * gemm + Costs.SOFTMAX_BACKWARD * visible);
    }

    @Test
    void layerNormReadsItsParametersAndWritesMeanAndRstd() {
        Tensor x = leaf(3, 4), w = leaf(4), b = leaf(4);
        Map<String, OpStats.Row> r = count(() -> F.layerNorm(x, w, b, 1e-5f));
        expect(r, "layer_norm/forward", Costs.LAYER_NORM_FORWARD * 12, 4.0 * (12 + 4 + 4 + 12 + 3 + 3));
        // reads x, w, mean, rstd, g; writes dx, dw, db
        expect(r, "layer_norm/backward", Costs.LAYER_NORM_BACKWARD * 12, 4.0 * (12 + 4 + 3 + 3 + 12 + 12 + 4 + 4));
    }

    @Test
    void geluAndCrossEntropy() {
        Tensor x = leaf(2, 3);
        Map<String, OpStats.Row> g = count(() -> F.gelu(x));
        expect(g, "gelu/forward", Costs.GELU_FORWARD * 6, 4.0 * 12);
        expect(g, "gelu/backward", Costs.GELU_BACKWARD * 6, 4.0 * 18);
        Tensor logits = leaf(3, 5), targets = Tensor.ints(new int[]{0, 4, 2}, 3);
        Map<String, OpStats.Row> c = count(() -> F.crossEntropy(logits, targets));
        expect(c, "cross_entropy/forward", Costs.SOFTMAX_FORWARD * 15, 4.0 * (15 + 3 + 1));
        expect(c, "cross_entropy/backward", Costs.CROSS_ENTROPY_BACKWARD * 15, 4.0 * (15 + 3 + 1 + 15));
    }

    @Test
    void embeddingMovesTheGatheredRowsAndItsBackwardWritesTheWholeTable() {
        Tensor table = leaf(10, 4), ids = Tensor.ints(new int[]{1, 7, 1}, 3);
        Map<String, OpStats.Row> r = count(() -> F.embedding(table, ids));
        expect(r, "embedding/forward", 0, 4.0 * 3 + 2 * 4.0 * 12);
        expect(r, "embedding/backward", 12, 4.0 * (12 + 3 + 40));
    }

    @Test
    void broadcastAddAndItsReduction() {
        Tensor a = leaf(2, 3), b = leaf(3);
        Map<String, OpStats.Row> r = count(() -> F.add(a, b));
        expect(r, "add/forward", 6, 4.0 * (6 + 3 + 6));
        expect(r, "add/backward", 6, 4.0 * (6 + 3)); // a's gradient is g itself; b's is g summed over rows
    }

    @Test
    void copiesMoveBytesWithoutFlops() {
        Tensor x = leaf(2, 3, 4);
        Map<String, OpStats.Row> p = count(() -> F.permute(x, 1, 0, 2));
        expect(p, "permute/forward", 0, 2 * 4.0 * 24);
        expect(p, "permute/backward", 0, 2 * 4.0 * 24);
        Tensor y = leaf(2, 6);
        Map<String, OpStats.Row> s = count(() -> F.slice(y, 1, 1, 4));
        expect(s, "slice/forward", 0, 2 * 4.0 * 6);
        expect(s, "slice/backward", 0, 4.0 * (6 + 12)); // pad reads g [2, 3] and writes [2, 6]
    }

    @Test
    void pointwiseReductionAndMaskOps() {
        Tensor x = leaf(2, 3);
        Map<String, OpStats.Row> e = count(() -> F.exp(x));
        expect(e, "exp/forward", 6, 4.0 * 12);
        expect(e, "exp/backward", 6, 4.0 * 18); // g · exp(x): reads g and the saved output, writes dx
        Map<String, OpStats.Row> s = count(() -> F.sum(x, 1, false));
        expect(s, "sum/forward", 6, 4.0 * (6 + 2));
        expect(s, "sum/backward", 0, 4.0 * (2 + 6)); // broadcast back: a copy
        Map<String, OpStats.Row> d = count(() -> F.dropout(x, 0.5f, true, new Rng(3)));
        // writes a one-byte mask, then reads x and the mask and writes the output
        expect(d, "dropout/forward", 6, 6 + 4.0 * 6 + 6 + 4.0 * 6);
        expect(d, "mask_scale/backward", 6, 4.0 * 6 + 6 + 4.0 * 6);
        Tensor y = leaf(2, 1);
        Map<String, OpStats.Row> c = count(() -> F.concat(1, x, y));
        expect(c, "concat/forward", 0, 2 * 4.0 * (6 + 2));
    }

    @Test
    void nothingIsRecordedWhenCountingIsOff() {
        Tensor a = leaf(2, 3, 4), b = leaf(2, 4, 5);
        try (var installed = MemoryTracker.install(new MemoryTracker()); Scope s = Scope.open()) {
            OpStats.reset();
            Tensor y = F.matmul(a, b, false, false);
            y.backward(Tensor.full(1f, y.shape()), false, false);
        }
        assertThat(OpStats.snapshot()).isEmpty();
        assertThat(OpStats.begin("x")).isNull();
    }

    @Test
    void aNestedOpOfTheSamePhaseAddsToTheOuterOpAndAnotherPhaseIsItsOwnRow() throws InterruptedException {
        try (var installed = MemoryTracker.install(new MemoryTracker())) {
            MemoryTracker t = MemoryTracker.current();
            t.phase(Phase.BACKWARD);
            OpStats.reset();
            OpStats.enable(true);
            long t0 = System.nanoTime();
            OpStats.Frame outer = OpStats.begin("outer");
            OpStats.Frame same = OpStats.begin("same");
            same.end(10, 20);
            t.phase(Phase.RECOMPUTE);
            OpStats.Frame other = OpStats.begin("other");
            Thread.sleep(3); // some time inside, so that counting it twice would show
            other.end(100, 200);
            t.phase(Phase.BACKWARD);
            outer.end(1, 2);
            long wall = System.nanoTime() - t0;
            OpStats.enable(false);
            Map<String, OpStats.Row> rows = new LinkedHashMap<>();
            for (OpStats.Row r : OpStats.snapshot()) rows.put(r.op() + "/" + r.phase().name().toLowerCase(), r);
            assertThat(rows.keySet()).containsExactlyInAnyOrder("outer/backward", "other/recompute");
            assertThat(rows.get("outer/backward").flops()).isEqualTo(11);
            assertThat(rows.get("outer/backward").bytes()).isEqualTo(22);
            assertThat(rows.get("other/recompute").flops()).isEqualTo(100);
            // the recomputation's time is taken out of the outer op's: together they fit in the wall time
            assertThat(rows.get("outer/backward").nanos() + rows.get("other/recompute").nanos()).isLessThanOrEqualTo(wall);
        }
    }
}
