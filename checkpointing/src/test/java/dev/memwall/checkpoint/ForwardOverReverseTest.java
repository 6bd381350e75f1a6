package dev.memwall.checkpoint;

import dev.memwall.autograd.Engine;
import dev.memwall.autograd.Scope;
import dev.memwall.autograd.Tensor;
import dev.memwall.memory.Category;
import dev.memwall.memory.MemoryTracker;
import dev.memwall.nn.FlatParameters;
import dev.memwall.nn.Gpt;
import dev.memwall.nn.GptConfig;
import dev.memwall.rng.Rng;
import dev.memwall.testing.GptHvp;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The fused forward-over-reverse pass gives the same loss, gradient and H·z as the createGraph double backward and as
 * the region-by-region product, under no checkpointing and under each policy; H·z equals finite differences of the
 * double-precision reference GPT; its gradient equals an ordinary backward's; every-layer checkpointing lowers its
 * activation peak.
 */
class ForwardOverReverseTest {
    /** Three blocks so that EVERY_K(2) and a mixed plan have segments of different kinds. */
    private static final GptConfig SMALL = new GptConfig(16, 8, 16, 2, 3, 0f);
    private static final GptHvp.Problem PROBLEM = GptHvp.problem(SMALL, 2, 5);

    private record Result(float loss, Map<String, float[]> grad, Map<String, float[]> hz, long activationPeak) {
    }

    private interface Pass {
        float run(Gpt model, Tensor ids, Tensor targets, FlatParameters flat, List<Tensor> params, float[] z,
                  HvpByRegions.ProductSink sink);
    }

    private static Result flatRun(GptHvp.Problem p, float scale, Pass pass) {
        Gpt model = new Gpt(p.config(), new Rng(1));
        GptHvp.load(model, p);
        FlatParameters flat = model.flatten();
        List<Tensor> params = model.parameters();
        List<String> names = List.copyOf(model.namedParameters().keySet());
        float[] z = new float[flat.length()];
        for (FlatParameters.Entry e : flat.entries()) System.arraycopy(p.v().get(e.name()), 0, z, e.offset(), e.numel());
        float[] hz = new float[flat.length()];
        MemoryTracker tracker = MemoryTracker.current();
        tracker.resetPeaks();
        float loss;
        try (Scope s = Scope.open()) {
            Tensor[] b = GptHvp.batch(p);
            loss = pass.run(model, b[0], b[1], flat, params, z, (k, part) -> {
                int o = flat.entries().get(k).offset();
                for (int i = 0; i < part.numel(); i++) hz[o + i] += part.data()[part.offset() + i];
            });
        }
        long peak = tracker.peakByCategory().getOrDefault(Category.ACTIVATION, 0L);
        Map<String, float[]> g = new LinkedHashMap<>(), h = new LinkedHashMap<>();
        for (int k = 0; k < names.size(); k++) {
            FlatParameters.Entry e = flat.entries().get(k);
            g.put(names.get(k), params.get(k).grad().toFloatArray());
            h.put(names.get(k), Arrays.copyOfRange(hz, e.offset(), e.offset() + e.numel()));
        }
        return new Result(loss, g, h, peak);
    }

    private static Result fast(Policy policy, float scale) {
        return flatRun(PROBLEM, scale, (m, ids, t, flat, params, z, sink) ->
                ForwardOverReverse.run(m, policy, ids, t, scale, flat, params, z, true, sink));
    }

    /** The createGraph path: g with its graph, then H·v by a second backward (unflattened model). */
    private static Result whole() {
        Gpt model = new Gpt(SMALL, new Rng(1));
        GptHvp.load(model, PROBLEM);
        Map<String, Tensor> named = model.namedParameters();
        Tensor[] params = named.values().toArray(new Tensor[0]);
        try (Scope s = Scope.open()) {
            Tensor loss = GptHvp.loss(model, PROBLEM);
            float l = loss.item();
            Tensor[] g = Engine.grad(new Tensor[]{loss}, params, null, true);
            Map<String, float[]> grads = new LinkedHashMap<>();
            int k = 0;
            for (String name : named.keySet()) grads.put(name, g[k++].toFloatArray());
            return new Result(l, grads, GptHvp.secondBackward(named, g, PROBLEM), 0);
        }
    }

    private static double relative(float[] got, float[] ref) {
        double diff = 0, norm = 0;
        for (int i = 0; i < ref.length; i++) {
            diff += (got[i] - (double) ref[i]) * (got[i] - ref[i]);
            norm += (double) ref[i] * ref[i];
        }
        return Math.sqrt(diff / norm);
    }

    private static void assertClose(Map<String, float[]> got, Map<String, float[]> ref, double tol, String what) {
        for (String name : ref.keySet()) assertThat(relative(got.get(name), ref.get(name))).as(what + " " + name).isLessThan(tol);
    }

    /** Width 8, two blocks: small enough for finite differences over every parameter in a few seconds. */
    private static final GptHvp.Problem FD_PROBLEM = GptHvp.problem(new GptConfig(8, 4, 8, 2, 2, 0f), 2, 7);

    @TestFactory
    Stream<DynamicTest> equalsTheCreateGraphAndRegionProductsUnderEachPolicy() {
        int layers = SMALL.layers();
        Result whole = whole();
        return Stream.of(Policy.none(layers), Policy.everyLayer(layers), Policy.selective(layers), Policy.everyK(layers, 2),
                Policy.checkpointBlocks("mixed", new boolean[]{true, false, true})).map(p -> DynamicTest.dynamicTest(p.describe(), () -> {
            Result got = fast(p, 1f);
            assertThat(got.loss()).isCloseTo(whole.loss(), org.assertj.core.data.Offset.offset(1e-6f));
            assertClose(got.grad(), whole.grad(), 1e-5, "gradient vs createGraph");
            assertClose(got.hz(), whole.hz(), 1e-5, "H·z vs createGraph");
            if (!p.name().equals("NONE")) {
                Result regions = flatRun(PROBLEM, 1f, (m, ids, t, flat, params, z, sink) ->
                        HvpByRegions.run(m, p, ids, t, 1f, flat, params, z, true, sink));
                assertClose(got.grad(), regions.grad(), 1e-5, "gradient vs regions");
                assertClose(got.hz(), regions.hz(), 1e-5, "H·z vs regions");
            }
        }));
    }

    @Test
    void productEqualsFiniteDifferencesOfTheDoublePrecisionGpt() {
        Map<String, double[]> reference = GptHvp.reference(FD_PROBLEM);
        for (Policy p : new Policy[]{null, Policy.everyLayer(2)}) {
            Result got = flatRun(FD_PROBLEM, 1f, (m, ids, t, flat, params, z, sink) ->
                    ForwardOverReverse.run(m, p, ids, t, 1f, flat, params, z, true, sink));
            assertThat(GptHvp.mismatches(got.hz(), reference, GptHvp.TOL)).as(p == null ? "no policy" : p.describe()).isEmpty();
        }
    }

    @Test
    void gradientEqualsAnOrdinaryBackwardsAndScalesWithTheSeed() {
        Result ordinary = flatRun(PROBLEM, 0.25f, (m, ids, t, flat, params, z, sink) -> {
            Tensor loss = m.loss(ids, t);
            loss.backward(Tensor.scalar(0.25f), false, false);
            return loss.item();
        });
        Result got = fast(null, 0.25f);
        assertThat(got.loss()).isEqualTo(ordinary.loss());
        assertClose(got.grad(), ordinary.grad(), 1e-6, "gradient");
        Result unscaled = fast(null, 1f);
        for (String name : got.hz().keySet()) {
            float[] a = got.hz().get(name), b = unscaled.hz().get(name);
            float[] quarter = new float[b.length];
            for (int i = 0; i < b.length; i++) quarter[i] = 0.25f * b[i];
            assertThat(relative(a, quarter)).as(name).isLessThan(1e-6);
        }
    }

    @Test
    void everyLayerCheckpointingKeepsOneBlocksTapeAtATime() {
        GptHvp.Problem wide = GptHvp.problem(new GptConfig(16, 8, 32, 2, 4, 0f), 4, 3);
        long kept = flatRun(wide, 1f, (m, ids, t, flat, params, z, sink) ->
                ForwardOverReverse.run(m, null, ids, t, 1f, flat, params, z, true, sink)).activationPeak();
        long every = flatRun(wide, 1f, (m, ids, t, flat, params, z, sink) ->
                ForwardOverReverse.run(m, Policy.everyLayer(4), ids, t, 1f, flat, params, z, true, sink)).activationPeak();
        // four blocks' tapes against one tape plus the four kept block inputs and tangents
        assertThat(every).isLessThan(kept / 2);
    }

    @Test
    void activeDropoutIsRefusedByName() {
        GptConfig c = new GptConfig(16, 8, 16, 2, 1, 0.1f);
        Gpt model = new Gpt(c, new Rng(1));
        FlatParameters flat = model.flatten();
        try (Scope s = Scope.open()) {
            Tensor ids = Tensor.ints(new int[8], 1, 8);
            assertThatThrownBy(() -> ForwardOverReverse.run(model, null, ids, ids, 1f, flat, model.parameters(),
                    new float[flat.length()], true, (k, h) -> { })).hasMessageContaining("dropout");
        }
    }
}
