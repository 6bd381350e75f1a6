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

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The gradient and H·z taken region by region equal the whole-graph ones (double backward through the whole model)
 * and central differences of the double-precision reference GPT, under each policy whose regions differ; and the
 * activation peak is that of the kept boundaries plus one region's second-order graph, below the whole-graph product's.
 */
class HvpByRegionsTest {
    private static final GptHvp.Problem PROBLEM = GptHvp.problem(GptHvp.TINY, 2, 11);

    /** g and H·z by regions, by parameter name; the model flattened, z the problem's direction. */
    private record Result(float loss, Map<String, float[]> grad, Map<String, float[]> hz) {
    }

    private static Result byRegions(Gpt model, GptHvp.Problem p, Policy policy, float scale) {
        FlatParameters flat = model.flatten();
        List<Tensor> params = model.parameters();
        List<String> names = List.copyOf(model.namedParameters().keySet());
        float[] z = new float[flat.length()];
        for (FlatParameters.Entry e : flat.entries()) System.arraycopy(p.v().get(e.name()), 0, z, e.offset(), e.numel());
        float[] hz = new float[flat.length()];
        float loss;
        try (Scope s = Scope.open()) {
            Tensor[] b = GptHvp.batch(p);
            loss = HvpByRegions.run(model, policy, b[0], b[1], scale, flat, params, z, true, (k, part) -> {
                int o = flat.entries().get(k).offset();
                for (int i = 0; i < part.numel(); i++) hz[o + i] += part.data()[part.offset() + i];
            });
        }
        Map<String, float[]> g = new LinkedHashMap<>(), h = new LinkedHashMap<>();
        for (int k = 0; k < names.size(); k++) {
            FlatParameters.Entry e = flat.entries().get(k);
            g.put(names.get(k), params.get(k).grad().toFloatArray());
            h.put(names.get(k), java.util.Arrays.copyOfRange(hz, e.offset(), e.offset() + e.numel()));
        }
        return new Result(loss, g, h);
    }

    /** The whole-graph g and H·v of an unwrapped model (what the createGraph path computes). */
    private static Result whole(GptHvp.Problem p) {
        Gpt model = new Gpt(p.config(), new Rng(1));
        GptHvp.load(model, p);
        return whole(model, p);
    }

    private static Result whole(Gpt model, GptHvp.Problem p) {
        Map<String, Tensor> named = model.namedParameters();
        Tensor[] params = named.values().toArray(new Tensor[0]);
        try (Scope s = Scope.open()) {
            Tensor loss = GptHvp.loss(model, p);
            float l = loss.item();
            Tensor[] g = Engine.grad(new Tensor[]{loss}, params, null, true);
            Map<String, float[]> grads = new LinkedHashMap<>();
            int k = 0;
            for (String name : named.keySet()) grads.put(name, g[k++].toFloatArray());
            return new Result(l, grads, GptHvp.secondBackward(named, g, p));
        }
    }

    private static double relative(Map<String, float[]> got, Map<String, float[]> ref) {
        double diff = 0, norm = 0;
        for (String name : ref.keySet()) {
            float[] a = got.get(name), r = ref.get(name);
            for (int i = 0; i < r.length; i++) {
                diff += (a[i] - (double) r[i]) * (a[i] - r[i]);
                norm += (double) r[i] * r[i];
            }
        }
        return Math.sqrt(diff / norm);
    }

    private static Map<String, double[]> reference;

    private static synchronized Map<String, double[]> reference() {
        if (reference == null) reference = GptHvp.reference(PROBLEM);
        return reference;
    }

    @TestFactory
    Stream<DynamicTest> gradientAndProductEqualTheWholeGraphOnesUnderEachPolicy() {
        int layers = GptHvp.TINY.layers();
        Result whole = whole(PROBLEM);
        return Stream.of(Policy.everyLayer(layers), Policy.everyK(layers, 2), Policy.selective(layers),
                Policy.checkpointBlocks("BUDGET-like", new boolean[]{true, false})).map(p -> DynamicTest.dynamicTest(p.describe(), () -> {
            Gpt model = new Gpt(GptHvp.TINY, new Rng(1));
            GptHvp.load(model, PROBLEM);
            Result got = byRegions(model, PROBLEM, p, 1f);
            assertThat(got.loss()).isEqualTo(whole.loss());
            assertThat(relative(got.grad(), whole.grad())).isLessThan(1e-5);
            for (String name : whole.hz().keySet()) {
                assertThat(relative(Map.of(name, got.hz().get(name)), Map.of(name, whole.hz().get(name)))).as(name).isLessThan(1e-5);
            }
            assertThat(GptHvp.mismatches(got.hz(), reference(), GptHvp.TOL)).isEmpty();
        }));
    }

    /**
     * With dropout, every run of a stage (forward with tangents, recomputation, double backward) must draw the masks
     * the single forward pass draws: g and H·z equal the whole graph's from the same generator state, and the
     * generator ends where one forward leaves it.
     */
    @Test
    void dropoutMasksAreReplayedInEveryRunOfAStage() {
        GptConfig c = new GptConfig(16, 8, 16, 2, 2, 0.25f);
        GptHvp.Problem p = GptHvp.problem(c, 2, 13);
        Rng wholeDropout = new Rng(99), regionDropout = new Rng(99);
        Gpt a = new Gpt(c, new Rng(1), wholeDropout), b = new Gpt(c, new Rng(1), regionDropout);
        GptHvp.load(a, p);
        GptHvp.load(b, p);
        Result ref = whole(a, p), got = byRegions(b, p, Policy.everyLayer(c.layers()), 1f);
        assertThat(got.loss()).isEqualTo(ref.loss());
        assertThat(relative(got.grad(), ref.grad())).isLessThan(1e-5);
        assertThat(relative(got.hz(), ref.hz())).isLessThan(1e-5);
        assertThat(regionDropout.state()).isEqualTo(wholeDropout.state());
    }

    @Test
    void theSeedScalesGradientAndProduct() {
        Gpt a = new Gpt(GptHvp.TINY, new Rng(1)), b = new Gpt(GptHvp.TINY, new Rng(1));
        GptHvp.load(a, PROBLEM);
        GptHvp.load(b, PROBLEM);
        Policy p = Policy.everyLayer(GptHvp.TINY.layers());
        Result one = byRegions(a, PROBLEM, p, 1f), quarter = byRegions(b, PROBLEM, p, 0.25f);
        for (String name : one.hz().keySet()) {
            float[] x = one.hz().get(name), y = quarter.hz().get(name);
            for (int i = 0; i < x.length; i++) assertThat(y[i]).isCloseTo(0.25f * x[i], org.assertj.core.data.Offset.offset(1e-6f + 1e-5f * Math.abs(x[i])));
        }
    }

    /**
     * The ACTIVATION peak of a product by regions is bounded by what it keeps — pairs of a value and its tangent, each
     * B·T·D floats: the L + 1 region inputs, the stage boundary inside a block, the adjoint coming in and the one going
     * out, 2·(L + 4)·B·T·D floats — plus the largest single stage's second-order graph, which is at most the
     * whole-graph product of the same model cut to one block (embeddings, one block, the head); and so below half the
     * whole-graph product of L blocks under EVERY_LAYER.
     */
    @Test
    void activationPeakIsTheBoundariesPlusOneRegionsSecondOrderGraph() {
        int layers = 6;
        GptConfig deep = new GptConfig(16, 8, 16, 2, layers, 0f), shallow = new GptConfig(16, 8, 16, 2, 1, 0f);
        int rows = 4;
        long wholeDeep = wholeGraphPeak(deep, rows, Policy.everyLayer(layers)), wholeOneBlock = wholeGraphPeak(shallow, rows, Policy.none(1));
        long regions;
        Gpt model = new Gpt(deep, new Rng(3));
        GptHvp.Problem p = GptHvp.problem(deep, rows, 5);
        GptHvp.load(model, p);
        MemoryTracker tracker = new MemoryTracker();
        try (var installed = MemoryTracker.install(tracker)) {
            byRegions(model, p, Policy.everyLayer(layers), 1f);
            regions = tracker.peak(Category.ACTIVATION);
            assertThat(tracker.current(Category.ACTIVATION)).isZero();
        }
        long boundaries = 2L * (layers + 4) * rows * deep.context() * deep.dim() * 4;
        assertThat(regions).isLessThanOrEqualTo(boundaries + wholeOneBlock);
        assertThat(regions).isLessThan(wholeDeep / 2);
    }

    /** ACTIVATION peak of the createGraph backward and the second backward through the whole model. */
    private static long wholeGraphPeak(GptConfig c, int rows, Policy policy) {
        Gpt model = new Gpt(c, new Rng(3));
        GptHvp.Problem p = GptHvp.problem(c, rows, 5);
        GptHvp.load(model, p);
        Checkpointing.install(model, policy);
        MemoryTracker tracker = new MemoryTracker();
        try (var installed = MemoryTracker.install(tracker)) {
            GptHvp.memwall(model, p);
            return tracker.peak(Category.ACTIVATION);
        }
    }
}
