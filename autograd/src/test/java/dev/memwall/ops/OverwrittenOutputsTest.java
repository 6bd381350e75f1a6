package dev.memwall.ops;

import dev.memwall.autograd.Scope;
import dev.memwall.autograd.Tensor;
import dev.memwall.memory.ArrayCache;
import dev.memwall.rng.Rng;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.Function;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The ops whose outputs are allocated without zero-filling ({@code Tensor.forOverwrite}) write every element: with
 * the array cache primed with NaN arrays of exactly their output and gradient lengths, so that each of those
 * allocations gets an array full of NaN, forward values and gradients are bitwise those computed on an empty cache.
 * A kernel that skipped an element would leave a NaN behind.
 */
class OverwrittenOutputsTest {
    private static final int COPIES = 6;

    @AfterEach
    void emptyCache() {
        ArrayCache.clear();
    }

    @Test
    void arraysForOverwriteComeBackAsTheyWereLeft() {
        ArrayCache.clear();
        float[] a = new float[4096];
        Arrays.fill(a, 3f);
        ArrayCache.recycle(a);
        float[] b = ArrayCache.floatsForOverwrite(4096);
        assertThat(b).isSameAs(a);
        assertThat(b[4095]).isEqualTo(3f);
        ArrayCache.recycle(b);
        assertThat(ArrayCache.floats(4096)).containsOnly(0f);
    }

    @Test
    void linearWithAndWithoutBias() {
        int rows = 37, in = 29, out = 41;
        check(t -> F.linear(t[0], t[1], t[2]), randn(1, rows, in), randn(2, out, in), randn(3, out));
        check(t -> F.linear(t[0], t[1], null), randn(4, rows, in), randn(5, out, in));
    }

    @Test
    void matmulSingleBatchedAndTransposed() {
        check(t -> F.matmul(t[0], t[1], false, false), randn(6, 37, 23), randn(7, 23, 45));
        check(t -> F.matmul(t[0], t[1], true, false), randn(8, 23, 37), randn(9, 23, 45));
        check(t -> F.matmul(t[0], t[1], false, true), randn(10, 3, 19, 7), randn(11, 3, 41, 7));
    }

    @Test
    void layerNormAndGelu() {
        check(t -> F.layerNorm(t[0], t[1], t[2], 1e-5f), randn(12, 37, 41), randn(13, 41), randn(14, 41));
        check(t -> F.layerNorm(t[0], null, null, 1e-5f), randn(15, 29, 53));
        check(t -> F.gelu(t[0]), randn(16, 3, 17, 31));
    }

    @Test
    void fusedAttention() {
        int heads = 2;
        int probsLength = 2 * heads * 33 * 33; // [B, H, T, T], never a result itself
        check(new int[]{probsLength}, t -> {
            Tensor p = FusedAttention.probs(t[0], heads);
            Tensor y = FusedAttention.attend(t[0], p, heads);
            p.release();
            return y;
        }, randn(17, 2, 33, 3 * heads * 9));
    }

    private static Tensor randn(long seed, int... shape) {
        return Tensor.randn(new Rng(seed), 1f, shape);
    }

    /** Forward value and input gradients, as arrays, of {@code op} under a fixed output gradient. */
    private static List<float[]> run(Function<Tensor[], Tensor> op, Tensor[] inputs) {
        List<float[]> result = new ArrayList<>();
        try (Scope s = Scope.open()) {
            Tensor[] in = new Tensor[inputs.length];
            for (int i = 0; i < in.length; i++) {
                in[i] = Tensor.of(inputs[i].toFloatArray(), inputs[i].shape()).requiresGrad(true);
            }
            Tensor y = op.apply(in);
            result.add(y.toFloatArray());
            y.backward(randn(99, y.shape()), false, false);
            for (Tensor t : in) result.add(t.grad().toFloatArray());
        }
        return result;
    }

    private static void check(Function<Tensor[], Tensor> op, Tensor... inputs) {
        check(new int[0], op, inputs);
    }

    /** Also primes NaN arrays of the {@code extraLengths} (intermediates of the op that are written for overwrite). */
    private static void check(int[] extraLengths, Function<Tensor[], Tensor> op, Tensor... inputs) {
        ArrayCache.clear();
        List<float[]> clean = run(op, inputs);
        ArrayCache.clear();
        List<Integer> lengths = new ArrayList<>();
        for (float[] r : clean) lengths.add(r.length);
        for (int l : extraLengths) lengths.add(l);
        for (int length : lengths) {
            for (int c = 0; c < COPIES; c++) {
                float[] poison = new float[length];
                Arrays.fill(poison, Float.NaN);
                ArrayCache.recycle(poison);
            }
        }
        List<float[]> primed = run(op, inputs);
        for (int i = 0; i < clean.size(); i++) {
            assertThat(primed.get(i)).as(i == 0 ? "forward value" : "gradient of input " + (i - 1))
                    .containsExactly(clean.get(i));
        }
    }
}
