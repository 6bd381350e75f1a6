package dev.memwall.checkpoint;

import dev.memwall.autograd.Engine;
import dev.memwall.autograd.Scope;
import dev.memwall.autograd.Tensor;
import dev.memwall.memory.Category;
import dev.memwall.memory.MemoryTracker;
import dev.memwall.nn.Gpt;
import dev.memwall.nn.GptConfig;
import dev.memwall.ops.F;
import dev.memwall.rng.Rng;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class CheckpointTest {
    private static final int F32 = 4;

    /** Gradients of every parameter after one forward + backward of {@code model} under {@code policy}. */
    private static Map<String, float[]> grads(GptConfig c, Policy policy, long dropoutSeed) {
        Gpt model = new Gpt(c, new Rng(3), new Rng(dropoutSeed));
        Checkpointing.install(model, policy);
        int n = 2 * c.context();
        int[] ids = new int[n], next = new int[n];
        Rng r = new Rng(5);
        for (int i = 0; i < n; i++) {
            ids[i] = r.nextInt(c.vocab());
            next[i] = r.nextInt(c.vocab());
        }
        try (Scope s = Scope.open()) {
            model.loss(Tensor.ints(ids, 2, c.context()), Tensor.ints(next, 2, c.context())).backward();
        }
        Map<String, float[]> out = new LinkedHashMap<>();
        model.namedParameters().forEach((k, t) -> out.put(k, t.grad().toFloatArray()));
        return out;
    }

    @Test
    void everyPolicyGivesTheSameGradientsBitForBit() {
        GptConfig c = new GptConfig(40, 8, 16, 2, 4, 0f);
        Map<String, float[]> reference = grads(c, Policy.none(4), 9);
        for (Policy p : List.of(Policy.everyLayer(4), Policy.everyK(4, 2), Policy.everyK(4, 3), Policy.sqrt(4),
                Policy.selective(4), Policy.checkpointBlocks("mixed", new boolean[]{true, false, false, true}),
                new Policy("mixed modes", List.of(new int[]{0, 1, Policy.SELECTIVE}, new int[]{1, 3, Policy.RECOMPUTE},
                        new int[]{3, 4, Policy.KEEP})))) {
            Map<String, float[]> g = grads(c, p, 9);
            reference.forEach((k, v) -> assertThat(g.get(k)).as(p.name() + " " + k).containsExactly(v));
        }
    }

    @Test
    void dropoutMasksAreReplayedExactly() {
        GptConfig c = new GptConfig(40, 8, 16, 2, 2, 0.3f);
        Map<String, float[]> reference = grads(c, Policy.none(2), 21);
        Map<String, float[]> recomputed = grads(c, Policy.everyLayer(2), 21);
        reference.forEach((k, v) -> assertThat(recomputed.get(k)).as(k).containsExactly(v));
        Map<String, float[]> selective = grads(c, Policy.selective(2), 21);
        reference.forEach((k, v) -> assertThat(selective.get(k)).as("SELECTIVE " + k).containsExactly(v));
        // and the masks really matter: another dropout seed gives other gradients
        Map<String, float[]> other = grads(c, Policy.none(2), 22);
        assertThat(other.get("blocks.0.qkv.weight")).isNotEqualTo(reference.get("blocks.0.qkv.weight"));
    }

    /** Peak ACTIVATION bytes of one step of a small GPT under a policy. */
    private static long peakActivation(GptConfig c, int batch, Policy policy) {
        MemoryTracker tracker = new MemoryTracker();
        try (var installed = MemoryTracker.install(tracker)) {
            Gpt model = new Gpt(c, new Rng(1));
            Checkpointing.install(model, policy);
            int n = batch * c.context();
            int[] ids = new int[n];
            for (int i = 0; i < n; i++) ids[i] = i % c.vocab();
            try (Scope s = Scope.open()) {
                model.loss(Tensor.ints(ids, batch, c.context()), Tensor.ints(ids, batch, c.context())).backward();
            }
            assertThat(tracker.current(Category.ACTIVATION)).isZero();
            return tracker.peak(Category.ACTIVATION);
        }
    }

    @Test
    void activationPeaksMatchTheAnalyticCountPerPolicy() {
        int b = 2, t = 16, d = 32, h = 4, v = 40, layers = 4;
        GptConfig c = new GptConfig(v, t, d, h, layers, 0f);
        long btd = (long) b * t * d, bt = (long) b * t;
        long block = 16 * btd + 4 * bt + (long) b * h * t * t;    // what one block saves (see MemoryAccountingTest)
        long head = btd + 2 * bt + btd + bt * v;                    // final layer norm, LM head input, logits
        long ints = 2 * bt;                                          // token ids and targets, 4 bytes each
        long none = F32 * (layers * block + head) + 4 * ints;
        assertThat(peakActivation(c, b, Policy.none(layers))).isEqualTo(none);
        // Every layer: the forward keeps each block's input; the peak is in backward, when the last block is
        // recomputed while all block inputs are still held (its own input is shared with its layer norm's save),
        // after the head's activations were freed. The ids stay until the embedding's node runs, the targets go
        // with the cross-entropy node.
        long everyLayer = F32 * (layers * btd + (block - btd)) + 4 * bt;
        long forwardEnd = F32 * (layers * btd + head) + 4 * ints;
        assertThat(peakActivation(c, b, Policy.everyLayer(layers))).isEqualTo(Math.max(everyLayer, forwardEnd));
        // Segments of two: two kept inputs, two blocks recomputed at a time.
        long everyTwo = F32 * (2 * btd + (2 * block - btd)) + 4 * bt;
        long forwardEnd2 = F32 * (2 * btd + head) + 4 * ints;
        assertThat(peakActivation(c, b, Policy.everyK(layers, 2))).isEqualTo(Math.max(everyTwo, forwardEnd2));
        // Selective: a block keeps its input, q/k/v, fc's output and both layer norms' statistics. The peak is in the
        // last block's backward, when out's input (the GELU output, 4·btd) is recomputed while every block's kept
        // values are held; the head is gone by then.
        long kept = 8 * btd + 4 * bt;
        long selective = F32 * (layers * kept + 4 * btd) + 4 * bt;
        long forwardEndSel = F32 * (layers * kept + head) + 4 * ints;
        assertThat(peakActivation(c, b, Policy.selective(layers))).isEqualTo(Math.max(selective, forwardEndSel));
    }

    @Test
    void hessianVectorProductThroughCheckpointedBlocksEqualsTheOneWithout() {
        GptConfig c = new GptConfig(20, 6, 8, 2, 2, 0f);
        float[] plain = hvp(c, Policy.none(2));
        for (Policy p : List.of(Policy.everyLayer(2), Policy.selective(2))) assertHvpClose(plain, hvp(c, p), p.name());
    }

    private static void assertHvpClose(float[] plain, float[] recomputed, String policy) {
        assertThat(recomputed).hasSameSizeAs(plain);
        double norm = 0;
        for (float f : plain) norm += f * f;
        assertThat(norm).isGreaterThan(1e-12);
        for (int i = 0; i < plain.length; i++) assertThat(recomputed[i]).as(policy + " " + i).isCloseTo(plain[i], org.assertj.core.data.Offset.offset(1e-6f + 1e-5f * Math.abs(plain[i])));
    }

    private static float[] hvp(GptConfig c, Policy policy) {
        Gpt model = new Gpt(c, new Rng(7));
        Checkpointing.install(model, policy);
        int[] ids = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
        Tensor w = model.namedParameters().get("blocks.0.fc.weight");
        Tensor v = Tensor.randn(new Rng(8), 1f, w.shape());
        try (Scope s = Scope.open()) {
            Tensor loss = model.loss(Tensor.ints(ids, 2, 6), Tensor.ints(ids, 2, 6));
            Tensor g = Engine.grad(new Tensor[]{loss}, new Tensor[]{w}, null, true)[0];
            Tensor gv = F.sumAll(F.mul(g, v));
            return Engine.grad(new Tensor[]{gv}, new Tensor[]{w}, null, false)[0].toFloatArray();
        }
    }

    @Test
    void aCheckpointedModuleKeepsItsNamesAndGradientsAndSavesOnlyItsInput() {
        GptConfig c = new GptConfig(40, 8, 16, 2, 1, 0f);
        dev.memwall.nn.Block block = new Gpt(c, new Rng(2)).blocks().get(0);
        Checkpointed<dev.memwall.nn.Block> wrapped = new Checkpointed<>(block, dev.memwall.nn.Block::forward, List.of());
        assertThat(wrapped.namedParameters().keySet()).isEqualTo(block.namedParameters().keySet()).contains("ln1.weight", "qkv.weight");
        Tensor x = Tensor.randn(new Rng(3), 1f, 2, 8, 16).requiresGrad(true);
        float[][] plain = blockGrads(block, x, false), checkpointed = blockGrads(wrapped, x, true);
        for (int k = 0; k < plain.length; k++) assertThat(checkpointed[k]).containsExactly(plain[k]);
        MemoryTracker tracker = new MemoryTracker();
        try (var installed = MemoryTracker.install(tracker); Scope s = Scope.open()) {
            Tensor in = Tensor.of(x.toFloatArray(), x.shape()).requiresGrad(true); // counted by this tracker
            Tensor y = wrapped.forward(in);
            assertThat(tracker.current(Category.ACTIVATION)).isEqualTo(in.bytes());
            F.sumAll(y).backward();
            assertThat(tracker.current(Category.ACTIVATION)).isZero();
        }
    }

    private static float[][] blockGrads(dev.memwall.nn.Module m, Tensor x, boolean wrapped) {
        m.zeroGrad();
        try (Scope s = Scope.open()) {
            Tensor y = wrapped ? ((Checkpointed<?>) m).forward(x) : ((dev.memwall.nn.Block) m).forward(x);
            Tensor gx = Engine.grad(F.sumAll(F.mul(y, y)), x, false);
            List<float[]> out = new ArrayList<>();
            out.add(gx.toFloatArray());
            return out.toArray(new float[0][]);
        }
    }

    @Test
    void nestedCheckpointsAndFunctionsWork() {
        Tensor x = Tensor.of(new float[]{0.5f, -1f, 2f}, 3).requiresGrad(true);
        Tensor plain = F.sumAll(F.tanh(F.mul(F.exp(x), x)));
        float[] expected = Engine.grad(plain, x, false).toFloatArray();
        Tensor nested = F.sumAll(Checkpoint.apply(outer -> {
            Tensor inner = Checkpoint.apply(in -> F.mul(F.exp(in[0]), in[0]), outer[0]);
            return F.tanh(inner);
        }, x));
        assertThat(Engine.grad(nested, x, false).toFloatArray()).containsExactly(expected);
    }

    @Test
    void aFunctionThatChangesBetweenRunsIsReported() {
        Tensor x = Tensor.of(new float[]{1f, 2f}, 2).requiresGrad(true);
        int[] calls = {0};
        Tensor y = F.sumAll(Checkpoint.apply(in -> calls[0]++ == 0 ? F.mul(in[0], in[0]) : F.exp(F.mul(in[0], in[0])), x));
        assertThatThrownBy(() -> Engine.grad(y, x, false)).hasMessageContaining("same work");
    }

    @Test
    void aRegionThatSavesNothingKeepsNothing() {
        MemoryTracker tracker = new MemoryTracker();
        try (var installed = MemoryTracker.install(tracker)) {
            try (Scope s = Scope.open()) {
                Tensor x = Tensor.of(new float[]{1f, 2f, 3f}, 3).requiresGrad(true);
                Tensor y = Checkpoint.apply(in -> F.add(in[0], in[0]), x); // add saves nothing for backward
                assertThat(tracker.current(Category.ACTIVATION)).isZero();
                assertThat(Engine.grad(F.sumAll(y), x, false).toFloatArray()).containsExactly(2f, 2f, 2f);
            }
            assertThat(tracker.currentTotal()).as("nothing outlives the scope").isZero();
        }
    }

    @Test
    void aRegionWhoseFunctionThrowsReleasesItsInputs() {
        MemoryTracker tracker = new MemoryTracker();
        try (var installed = MemoryTracker.install(tracker)) {
            try (Scope s = Scope.open()) {
                Tensor x = Tensor.of(new float[]{1f, 2f, 3f}, 3).requiresGrad(true);
                assertThatThrownBy(() -> Checkpoint.apply(in -> {
                    F.mul(in[0], in[0]); // saves its inputs: the region starts keeping x
                    throw new IllegalStateException("region failed");
                }, x)).hasMessage("region failed");
                assertThat(tracker.current(Category.ACTIVATION)).as("x is no longer kept for a backward that cannot run").isZero();
                assertThat(x.isReleased()).isFalse();
            }
            assertThat(tracker.currentTotal()).isZero();
        }
    }
}
