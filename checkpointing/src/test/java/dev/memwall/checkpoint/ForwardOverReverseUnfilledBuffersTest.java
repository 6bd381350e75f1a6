package dev.memwall.checkpoint;

import dev.memwall.autograd.Scope;
import dev.memwall.autograd.Tensor;
import dev.memwall.memory.ArrayCache;
import dev.memwall.nn.FlatParameters;
import dev.memwall.nn.Gpt;
import dev.memwall.nn.GptConfig;
import dev.memwall.rng.Rng;
import dev.memwall.testing.GptHvp;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.TreeSet;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The fused pass takes many of its buffers without a zero-fill ({@code Tensor.forOverwrite}): every rule must write
 * each element of those before reading it. With the array cache full of NaN-filled arrays of every length the pass
 * allocates, the loss, gradient and H·z stay bit for bit those of a run on fresh arrays: a buffer read before it is
 * written would carry a NaN into them.
 */
class ForwardOverReverseUnfilledBuffersTest {
    /** Big enough that the pass's buffers (at least 1024 floats) go through the array cache. */
    private static final GptConfig CONFIG = new GptConfig(32, 16, 32, 2, 2, 0f);
    private static final int ROWS = 4;

    private record Result(float loss, float[] grad, float[] hz) {
    }

    private static Result run(GptHvp.Problem p, Policy policy) {
        Gpt model = new Gpt(p.config(), new Rng(1));
        GptHvp.load(model, p);
        FlatParameters flat = model.flatten();
        List<Tensor> params = model.parameters();
        float[] z = new float[flat.length()];
        for (FlatParameters.Entry e : flat.entries()) System.arraycopy(p.v().get(e.name()), 0, z, e.offset(), e.numel());
        float[] hz = new float[flat.length()];
        float loss;
        try (Scope s = Scope.open()) {
            Tensor[] b = GptHvp.batch(p);
            loss = ForwardOverReverse.run(model, policy, b[0], b[1], 1f, flat, params, z, true, (k, part) -> {
                int o = flat.entries().get(k).offset();
                for (int i = 0; i < part.numel(); i++) hz[o + i] += part.data()[part.offset() + i];
            });
        }
        return new Result(loss, flat.grads().whole().toFloatArray(), hz);
    }

    /** Fills the cache with NaN arrays of every length the pass asks for (activations, products, parameters). */
    private static void poisonCache(FlatParameters flat) {
        int rows = ROWS * CONFIG.context(), d = CONFIG.dim(), t = CONFIG.context();
        TreeSet<Integer> lengths = new TreeSet<>(List.of(rows * d, rows * 3 * d, rows * 4 * d, rows * CONFIG.vocab(),
                ROWS * CONFIG.heads() * t * t, 2 * rows, rows));
        for (FlatParameters.Entry e : flat.entries()) lengths.add(e.numel());
        List<float[]> taken = new ArrayList<>();
        for (int length : lengths) {
            for (int i = 0; i < 24; i++) {
                float[] a = ArrayCache.floatsForOverwrite(length);
                Arrays.fill(a, Float.NaN);
                taken.add(a);
            }
        }
        taken.forEach(ArrayCache::recycle);
    }

    @Test
    void nanFilledCacheChangesNothingWithAndWithoutCheckpointing() {
        GptHvp.Problem p = GptHvp.problem(CONFIG, ROWS, 11);
        for (Policy policy : new Policy[]{null, Policy.everyLayer(CONFIG.layers())}) {
            ArrayCache.clear();
            Result fresh = run(p, policy);
            poisonCache(new Gpt(CONFIG, new Rng(1)).flatten());
            Result reused = run(p, policy);
            assertThat(Float.isFinite(fresh.loss())).isTrue();
            assertThat(reused.loss()).isEqualTo(fresh.loss());
            assertThat(reused.grad()).containsExactly(fresh.grad());
            assertThat(reused.hz()).containsExactly(fresh.hz());
        }
    }
}
