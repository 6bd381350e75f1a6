package dev.memwall.optim;

import dev.memwall.autograd.Tensor;
import dev.memwall.nn.FlatParameters;
import dev.memwall.nn.Module;
import dev.memwall.rng.Rng;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Optimizers over a {@link Shard} of segments whose gradients live in an array of their own (ZeRO stage 2) do, element
 * for element, what one optimizer over the whole range with the flat gradient buffer does.
 */
class ShardTest {
    static final class Vec extends Module {
        Vec(float[] init) {
            param("w", Tensor.of(init.clone(), init.length)); // of() may adopt the array, which param() then releases
        }
    }

    /** Two segments, [3, 10) and [15, 20), gradients at [5, 12) and [0, 5) of a separate array (order of their own). */
    static final int[] STARTS = {3, 15}, LENGTHS = {7, 5}, GRAD_STARTS = {5, 0};

    @Test
    void adamwAndSgdOverSegmentsMatchTheWholeRangeOnThoseElements() {
        Rng r = new Rng(4);
        float[] init = new float[24];
        for (int i = 0; i < init.length; i++) init[i] = r.nextFloat() - 0.5f;
        for (String which : new String[] {"adamw", "sgd"}) {
            FlatParameters whole = new Vec(init).flatten(), sharded = new Vec(init).flatten();
            float[] own = new float[12];
            Optimizer a = make(which, whole, null), b = make(which, sharded, new Shard(STARTS, LENGTHS, own, GRAD_STARTS));
            for (int step = 0; step < 3; step++) {
                float[] g = whole.grads().whole().data();
                for (int i = 0; i < g.length; i++) g[i] = r.nextFloat() - 0.5f;
                for (int k = 0; k < STARTS.length; k++) System.arraycopy(g, STARTS[k], own, GRAD_STARTS[k], LENGTHS[k]);
                a.step();
                b.step();
            }
            float[] expected = whole.values().whole().toFloatArray(), got = sharded.values().whole().toFloatArray();
            for (int i = 0; i < init.length; i++) {
                boolean owned = (i >= 3 && i < 10) || (i >= 15 && i < 20);
                assertThat(got[i]).as("%s element %d", which, i).isEqualTo(owned ? expected[i] : init[i]);
            }
            assertThat(b.stateTensors().values()).allSatisfy(t -> assertThat(t.numel()).isEqualTo(12));
            b.zeroGrad();
            assertThat(own).as("zeroGrad clears the segments' gradients").containsOnly(0f);
        }
    }

    private static Optimizer make(String which, FlatParameters p, Shard shard) {
        Shard s = shard != null ? shard : Shard.range(0, p.length());
        return which.equals("adamw") ? new AdamW(p, s, AdamW.Config.defaults(0.05))
                : new Sgd(p, s, new Sgd.Config(0.1, 0.9, 0, 0.01, false));
    }

    @Test
    void badShardsAreRefusedNamingTheSegment() {
        FlatParameters p = new Vec(new float[8]).flatten();
        assertThatThrownBy(() -> new AdamW(p, new Shard(new int[] {2}, new int[] {9}, null, new int[] {2}), AdamW.Config.defaults(1e-3)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("segment 0");
        assertThatThrownBy(() -> new Shard(new int[] {0}, new int[] {4}, new float[3], new int[] {0}))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("in 3 gradients");
        assertThatThrownBy(() -> new Shard(new int[] {0, 1}, new int[] {4}, null, new int[] {0}))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("2 starts, 1 lengths");
    }
}
