package dev.memwall.optim;

import dev.memwall.autograd.Scope;
import dev.memwall.autograd.Tensor;
import dev.memwall.format.Bf16;
import dev.memwall.format.Blockwise8;
import dev.memwall.format.DynamicMap;
import dev.memwall.format.Overflow;
import dev.memwall.kernels.AdamWKernel;
import dev.memwall.memory.Category;
import dev.memwall.memory.MemoryTracker;
import dev.memwall.nn.FlatParameters;
import dev.memwall.nn.Gpt;
import dev.memwall.nn.GptConfig;
import dev.memwall.nn.Module;
import dev.memwall.rng.Rng;
import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * AdamW with BF16 and block-wise 8-bit moments: bytes in the tracker, the fused update against the FP32 kernel on
 * decoded moments re-encoded, the small-tensor exemption decided on the whole parameter, shards that cut blocks, and
 * the saved state rebuilding the same bytes.
 */
class CompressedMomentsTest {
    private static final AdamW.Config CONFIG = new AdamW.Config(1e-2, 0.9, 0.95, 1e-8, 0.01);

    /** Parameters "big" (5000 elements: 8-bit) and "small" (1000: FP32 under INT8). */
    static final class Two extends Module {
        Two(Rng r) {
            param("big", Tensor.randn(r, 1f, 5000));
            param("small", Tensor.randn(r, 1f, 1000));
        }
    }

    private static FlatParameters two() {
        return new Two(new Rng(1)).flatten();
    }

    private static void grads(FlatParameters p, long seed) {
        float[] g = p.grads().whole().data();
        Rng r = new Rng(seed);
        r.fillNormal(g, 0, p.length(), 1f);
        for (int i = 0; i < p.length(); i++) g[i] = (float) (g[i] * Math.pow(10, -3 * r.nextFloat()));
    }

    @Test
    void stateBytesAreAnalytic() {
        MemoryTracker tracker = new MemoryTracker();
        try (var installed = MemoryTracker.install(tracker)) {
            FlatParameters p = two();
            AdamW int8 = new AdamW(p, CONFIG, StateFormat.INT8);
            long expected = 2L * (5000 + 4L * Blockwise8.blocks(5000) + 4L * 1000);
            assertThat(tracker.current(Category.OPTIMIZER_STATE)).isEqualTo(expected).isEqualTo(int8.stateBytes());
            assertThat(int8.eightBitElements()).isEqualTo(5000);
            int8.release();
            assertThat(tracker.current(Category.OPTIMIZER_STATE)).isZero();
            AdamW bf16 = new AdamW(p, CONFIG, StateFormat.BF16);
            assertThat(tracker.current(Category.OPTIMIZER_STATE)).isEqualTo(2L * 2 * 6000);
            bf16.release();
        }
    }

    /** The GPT benchmark model's shape: every 8-bit parameter is a weight matrix; biases and norms stay FP32. */
    @Test
    void benchModelStateIsAQuarterOfFp32() {
        MemoryTracker tracker = new MemoryTracker();
        try (var installed = MemoryTracker.install(tracker)) {
            Gpt model = new Gpt(new GptConfig(256, 128, 256, 4, 6, 0f), new Rng(0));
            FlatParameters p = model.flatten();
            long fp32 = 8L * p.count();
            long expected = 0;
            for (FlatParameters.Entry e : p.entries()) {
                int n = e.numel();
                expected += n >= CompressedMoments.MIN_8BIT_SIZE ? 2L * (n + 4L * Blockwise8.blocks(n)) : 8L * n;
            }
            long before = tracker.current(Category.OPTIMIZER_STATE);
            AdamW int8 = new AdamW(p, CONFIG, StateFormat.INT8);
            long bytes = tracker.current(Category.OPTIMIZER_STATE) - before;
            assertThat(bytes).isEqualTo(expected);
            assertThat((double) bytes / fp32).isLessThan(0.26);
            int8.release();
        }
    }

    /**
     * The fused update equals the FP32 AdamW kernel run on the decoded moments followed by re-encoding each block
     * (blocks from each parameter's start), bit for bit, over several steps.
     */
    @Test
    void fusedUpdateEqualsKernelOnDecodedMomentsReencoded() {
        for (StateFormat f : new StateFormat[]{StateFormat.BF16, StateFormat.INT8}) {
            FlatParameters p = two();
            AdamW opt = new AdamW(p, CONFIG, f);
            int n = p.count();
            float[] ref = p.values().whole().toFloatArray(), m = new float[n], v = new float[n];
            for (int step = 1; step <= 5; step++) {
                grads(p, step);
                float[] g = p.grads().whole().toFloatArray();
                opt.step();
                AdamWKernel.step(ref, 0, g, 0, m, 0, v, 0, n, CONFIG.lr(), CONFIG.beta1(), CONFIG.beta2(), CONFIG.eps(),
                        CONFIG.weightDecay(), step);
                if (f == StateFormat.BF16) {
                    for (int i = 0; i < n; i++) {
                        m[i] = Bf16.toFloat(Bf16.fromFloat(m[i], Overflow.NON_SATURATE));
                        v[i] = Bf16.toFloat(Bf16.fromFloat(v[i], Overflow.NON_SATURATE));
                    }
                } else { // "big" in blocks of 256 from its start; "small" stays FP32
                    roundTrip(m, 5000, DynamicMap.SIGNED);
                    roundTrip(v, 5000, DynamicMap.UNSIGNED);
                }
                assertThat(p.values().whole().toFloatArray()).as(f + " step " + step).isEqualTo(ref);
            }
            opt.release();
        }
    }

    private static void roundTrip(float[] x, int n, DynamicMap map) {
        byte[] codes = new byte[n];
        float[] absmax = new float[Blockwise8.blocks(n)];
        Blockwise8.quantize(x, 0, n, map, codes, 0, absmax, 0);
        Blockwise8.dequantize(codes, 0, n, absmax, 0, map, x, 0);
    }

    /** 8-bit moments track FP32's closely: parameters after 20 steps within a small fraction of what they moved. */
    @Test
    void int8TrainingStaysCloseToFp32() {
        FlatParameters a = two(), b = two();
        float[] start = a.values().whole().toFloatArray();
        AdamW fp32 = new AdamW(a, CONFIG), int8 = new AdamW(b, CONFIG, StateFormat.INT8);
        for (int step = 1; step <= 20; step++) {
            grads(a, step);
            grads(b, step);
            fp32.step();
            int8.step();
        }
        float[] x = a.values().whole().toFloatArray(), y = b.values().whole().toFloatArray();
        double moved = 0, diff = 0;
        for (int i = 0; i < x.length; i++) {
            moved += Math.pow(x[i] - start[i], 2);
            diff += Math.pow(x[i] - y[i], 2);
        }
        assertThat(Math.sqrt(diff / moved)).isLessThan(0.05).isGreaterThan(0);
        int8.release();
    }

    /**
     * The exemption is decided on the whole parameter: a shard holding 100 elements of the 5000-element parameter keeps
     * them 8-bit. Shards split at a block boundary together hold exactly one process's state and make the same
     * update; a boundary inside a block cuts it in two (no absmax spans both shards).
     */
    @Test
    void shardsDecideOnTheGlobalTensorAndNeverShareAnAbsmax() {
        FlatParameters p = two();
        AdamW piece = new AdamW(p, Shard.range(4900, 5000), CONFIG, StateFormat.INT8);
        assertThat(piece.eightBitElements()).isEqualTo(100);
        AdamW smallPiece = new AdamW(p, Shard.range(5000, 5100), CONFIG, StateFormat.INT8);
        assertThat(smallPiece.eightBitElements()).isZero();
        piece.release();
        smallPiece.release();

        FlatParameters whole = two(), split = two(), cut = two();
        AdamW one = new AdamW(whole, CONFIG, StateFormat.INT8);
        AdamW[] two = {new AdamW(split, Shard.range(0, 2560), CONFIG, StateFormat.INT8),
                new AdamW(split, Shard.range(2560, 6000), CONFIG, StateFormat.INT8)};
        AdamW[] unaligned = {new AdamW(cut, Shard.range(0, 2600), CONFIG, StateFormat.INT8),
                new AdamW(cut, Shard.range(2600, 6000), CONFIG, StateFormat.INT8)};
        // 5000 elements make 20 blocks; cut at 2600 (inside block 10) the two shards hold 11 + 10 of them
        assertThat(unaligned[0].stateBytes() + unaligned[1].stateBytes()).isEqualTo(one.stateBytes() + 2 * 4);
        assertThat(two[0].stateBytes() + two[1].stateBytes()).isEqualTo(one.stateBytes());
        for (int step = 1; step <= 4; step++) {
            grads(whole, step);
            grads(split, step);
            grads(cut, step);
            one.step();
            for (AdamW o : two) o.step();
            for (AdamW o : unaligned) o.step();
        }
        assertThat(split.values().whole().toFloatArray()).isEqualTo(whole.values().whole().toFloatArray());
        assertThat(cut.values().whole().toFloatArray()).isNotEqualTo(whole.values().whole().toFloatArray());
        // the saved state of the two aligned shards is the single process's, element for element
        try (Scope s = Scope.open()) {
            Map<String, Tensor> all = one.savedState(), lo = two[0].savedState(), hi = two[1].savedState();
            for (String name : all.keySet()) {
                float[] joined = new float[6000];
                System.arraycopy(lo.get(name).toFloatArray(), 0, joined, 0, 2560);
                System.arraycopy(hi.get(name).toFloatArray(), 0, joined, 2560, 3440);
                assertThat(joined).as(name).isEqualTo(all.get(name).toFloatArray());
            }
        }
    }

    /** Save → load into a fresh optimizer → both continue identically (the state bytes are rebuilt exactly). */
    @Test
    void savedStateRebuildsTheSameBytes() {
        for (StateFormat f : new StateFormat[]{StateFormat.BF16, StateFormat.INT8}) {
            FlatParameters a = two(), b = two();
            AdamW first = new AdamW(a, CONFIG, f);
            for (int step = 1; step <= 3; step++) {
                grads(a, step);
                first.step();
            }
            System.arraycopy(a.values().whole().toFloatArray(), 0, b.values().whole().data(), 0, a.count());
            AdamW second = new AdamW(b, CONFIG, f);
            try (Scope s = Scope.open()) {
                Map<String, Tensor> saved = first.savedState(), fresh = second.savedState();
                assertThat(fresh.keySet()).isEqualTo(saved.keySet());
                for (String name : saved.keySet()) {
                    System.arraycopy(saved.get(name).toFloatArray(), 0, fresh.get(name).data(), 0, a.count());
                }
                second.loadSavedState(fresh);
                second.stepCount(first.stepCount());
                Map<String, Tensor> again = second.savedState();
                for (String name : saved.keySet()) {
                    assertThat(again.get(name).toFloatArray()).as(f + " " + name).isEqualTo(saved.get(name).toFloatArray());
                }
            }
            for (int step = 4; step <= 6; step++) {
                grads(a, step);
                grads(b, step);
                first.step();
                second.step();
            }
            assertThat(b.values().whole().toFloatArray()).as(f.label()).isEqualTo(a.values().whole().toFloatArray());
            first.release();
            second.release();
        }
    }

    @Test
    void formatsParseAndFp32KeepsItsTensors() {
        assertThat(StateFormat.parse("INT8")).isEqualTo(StateFormat.INT8);
        assertThatThrownBy(() -> StateFormat.parse("fp8")).hasMessageContaining("fp32, bf16, int8");
        FlatParameters p = two();
        AdamW plain = new AdamW(p, CONFIG, StateFormat.FP32);
        assertThat(plain.stateTensors()).containsOnlyKeys("exp_avg", "exp_avg_sq");
        assertThat(plain.savedState()).isEqualTo(plain.stateTensors());
        plain.release();
    }
}
