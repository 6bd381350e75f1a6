package dev.memwall.generate;

import dev.memwall.autograd.OpStats;
import dev.memwall.autograd.Scope;
import dev.memwall.memory.MemoryTracker;
import dev.memwall.nn.Gpt;
import dev.memwall.nn.GptConfig;
import dev.memwall.rng.Rng;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.LinkedHashMap;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * What the decoder's steps record under {@link OpStats}, against counts worked out by hand for a GPT of 3 layers, width
 * 24, 3 heads of 8, vocabulary 40: a prefill of 4 tokens, then one decode step at position 4 (5 keys per head), all
 * FP32. The decode step's Linears are matrix-vector products: about 2 FLOPs per 4-byte weight.
 */
class GptDecoderCountsTest {
    static final GptConfig CONFIG = new GptConfig(40, 12, 24, 3, 3, 0f);

    @AfterEach
    void off() {
        OpStats.enable(false);
        OpStats.reset();
    }

    /** Rows of one call, keyed by op. */
    private static Map<String, OpStats.Row> counted(Runnable call) {
        OpStats.reset();
        OpStats.enable(true);
        call.run();
        OpStats.enable(false);
        Map<String, OpStats.Row> m = new LinkedHashMap<>();
        for (OpStats.Row r : OpStats.snapshot()) m.put(r.op(), r);
        return m;
    }

    private static void expect(Map<String, OpStats.Row> rows, String op, long calls, double flops, double bytes) {
        assertThat(rows).as("rows %s", rows.keySet()).containsKey(op);
        OpStats.Row r = rows.get(op);
        assertThat(r.calls()).as("%s calls", op).isEqualTo(calls);
        assertThat(r.flops()).as("%s FLOPs", op).isEqualTo(flops);
        assertThat(r.bytes()).as("%s bytes", op).isEqualTo(bytes);
    }

    @Test
    void prefillAndDecodeRecordAttentionOverTheCacheAndTheirLinears() {
        Gpt m = new Gpt(CONFIG, new Rng(1));
        m.train(false);
        try (var installed = MemoryTracker.install(new MemoryTracker()); Scope s = Scope.open(); GptDecoder d = new GptDecoder(m)) {
            Map<String, OpStats.Row> pre = counted(() -> d.prefill(new int[]{1, 2, 3, 4}).release());
            // t = 4, n = 4: q·Kᵀ and P·V each 2·3·4·4·8 FLOPs; reads 4·(3·4·8) of q or P-side and of the cache, writes the rest
            expect(pre, "matmul", 6, 3 * 2 * 768.0, 3 * 2 * 4.0 * 3 * (4 * 8 + 4 * 8 + 4 * 4));
            // 3 heads × (1 + 2 + 3 + 4) visible scores, 5 FLOPs each; read them, write all 3·4·4
            expect(pre, "causal_softmax", 3, 3 * 5 * 30.0, 3 * (4 * 30.0 + 4 * 48));
            expect(pre, "split_heads", 3, 0, 3 * 4.0 * (4 * 72 + 4 * 72));
            expect(pre, "merge_heads", 3, 0, 3 * 4.0 * (4 * 24 * 2));
            expect(pre, "embedding", 1, 4 * 24, 4.0 * 4 + 4.0 * 3 * 4 * 24);

            Map<String, OpStats.Row> dec = counted(() -> d.decode(5).release());
            // t = 1 after 4 cached: 5 keys per head; each product reads the 5 cached rows of 8 per head
            expect(dec, "matmul", 6, 3 * 2 * (2.0 * 3 * 5 * 8), 3 * 2 * 4.0 * 3 * (8 + 5 * 8 + 5));
            expect(dec, "causal_softmax", 3, 3 * 5 * 15.0, 3 * (4 * 15.0 + 4 * 15));
            expect(dec, "split_heads", 3, 0, 3 * 4.0 * 144);
            expect(dec, "embedding", 1, 24, 4 + 4.0 * 72);
            // Linear: qkv 24→72, proj 24→24, fc 24→96, out 96→24 with biases per layer, head 24→40 without
            double weights = 3 * (24 * 72 + 24 * 24 + 24 * 96 + 96 * 24) + 24 * 40, biases = 3 * (72 + 24 + 96 + 24);
            double inputs = 3 * (24 + 24 + 24 + 96) + 24, outputs = biases + 40;
            expect(dec, "linear", 13, 2 * weights + biases, 4 * (weights + biases + inputs + outputs));
            double intensity = dec.get("linear").flops() / dec.get("linear").bytes();
            assertThat(intensity).as("decode's Linears: FLOP/B").isBetween(0.45, 0.5);
            assertThat(pre.get("linear").flops() / pre.get("linear").bytes()).as("prefill's Linears").isGreaterThan(3 * intensity);
        }
    }
}
