package dev.memwall.ops;

import dev.memwall.autograd.Engine;
import dev.memwall.autograd.Scope;
import dev.memwall.autograd.Tensor;
import dev.memwall.ops.Fd.OpCase;
import dev.memwall.rng.Rng;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

import java.util.Random;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Hessian-vector products (double backward with createGraph) of every op against 4-point finite differences of the
 * double reference. Linear ops are squared first (L = sum(w ⊙ op(x)²)) so that the Hessian does not vanish; binary
 * ops are differentiated wrt both inputs jointly, which also checks the mixed second derivatives.
 */
class HvpTest {
    @TestFactory
    Stream<DynamicTest> hvpMatchesFiniteDifferences() {
        return GradCheckTest.cases().stream()
                .map(c -> DynamicTest.dynamicTest(c.name(), () -> Fd.hvpCheck(c, 31L * c.name().hashCode() + 5)));
    }

    /** The same with every input a view at a nonzero offset into a NaN-filled buffer. */
    @TestFactory
    Stream<DynamicTest> hvpOfInputsAtAnOffset() {
        return GradCheckTest.cases().stream()
                .map(c -> DynamicTest.dynamicTest(c.name(), () -> Fd.hvpCheck(c, 31L * c.name().hashCode() + 6, true)));
    }

    /** The op alone, L = sum(w ⊙ embedding(T, ids)), is linear in T: its Hessian is zero (or the gradient is constant). */
    @Test
    void embeddingAloneHasZeroHessian() {
        int[] ids = {1, 3, 1, 0, 5, 3};
        Random r = new Random(3);
        double[] t = Fd.normal(r, 18), w = Fd.normal(r, 18), v = Fd.normal(r, 18);
        try (Scope s = Scope.open()) {
            Tensor table = Tensor.of(Fd.f(t), 6, 3).requiresGrad(true);
            Tensor l = F.sumAll(F.mul(Tensor.of(Fd.f(w), 2, 3, 3), F.embedding(table, Tensor.ints(ids, 2, 3))));
            Tensor g = Engine.grad(new Tensor[]{l}, new Tensor[]{table}, null, true, true, true)[0];
            double[] gRef = Fd.gradient(x -> Fd.dot(w, Ref.embedding(new Nd(new int[]{6, 3}, x), ids, new int[]{2, 3}).d), t, 1e-6);
            Fd.assertClose("embedding gradient", g.toFloatArray(), gRef, Fd.GRAD_TOL);
            if (g.requiresGrad()) { // a graph was recorded: its derivative must be zero or absent
                Tensor gv = F.sumAll(F.mul(g, Tensor.of(Fd.f(v), 6, 3)));
                Tensor hv = Engine.grad(new Tensor[]{gv}, new Tensor[]{table}, null, false, false, true)[0];
                if (hv != null) assertThat(hv.toFloatArray()).containsOnly(0f);
            }
        }
    }

    /** Dropout's mask is recovered from the output (x != 0); HVP of sum(w ⊙ tanh(dropout(x))) vs finite differences. */
    @Test
    void dropoutHvp() {
        float p = 0.3f;
        int n = 60;
        Random r = new Random(21);
        double[] x = Fd.sample(r, Fd.Dist.NONZERO, n), w = Fd.normal(r, n), v = Fd.normal(r, n);
        boolean[] keep = new boolean[n];
        try (Scope s = Scope.open()) {
            float[] y = F.dropout(Tensor.of(Fd.f(x), 6, 10), p, true, new Rng(9)).toFloatArray();
            for (int i = 0; i < n; i++) keep[i] = y[i] != 0f;
        }
        double scale = 1.0 / (1 - p);
        double[] ref = Fd.hvp(z -> Fd.dot(w, Ref.map(Ref.maskScale(new Nd(new int[]{6, 10}, z), keep, scale), Math::tanh).d),
                x, v, 1e-4, 1e-4);
        assertThat(Fd.norm(ref)).isGreaterThan(1e-2);
        float[] got = Fd.memwallHvp(new double[][]{x}, new int[][]{{6, 10}}, new double[][]{v},
                t -> F.sumAll(F.mul(Tensor.of(Fd.f(w), 6, 10), F.tanh(F.dropout(t[0], p, true, new Rng(9))))));
        Fd.assertClose("dropout HVP", got, ref, Fd.HVP_TOL);
    }

    /** Two ops chained, so that second-order terms flow across an op boundary: L = sum(w ⊙ gelu(layerNorm(x) · W)). */
    @Test
    void chainedLayerNormLinearGelu() {
        OpCase c = new OpCase("layerNorm→linear→gelu",
                t -> F.gelu(F.linear(F.layerNorm(t[0], t[1], t[2], 1e-5f), t[3], null)),
                x -> Ref.gelu(Ref.linear(Ref.layerNorm(x[0], x[1], x[2], 1e-5f), x[3], null)),
                new Fd.Dist[]{Fd.Dist.NORMAL, Fd.Dist.NORMAL, Fd.Dist.NORMAL, Fd.Dist.NORMAL},
                new int[][]{{3, 5}, {5}, {5}, {4, 5}}, false);
        Fd.gradCheck(c, 77);
        Fd.hvpCheck(c, 78);
    }

    /**
     * The block check holds each block to its own norm: a block 1e-5 the size of the other, zeroed, fails, where a
     * floor at 1% of the whole vector's norm would have let it pass.
     */
    @Test
    void aSmallBlockWrongByItsOwnSizeIsCaught() {
        double[] big = new double[10_000], small = {0.005, -0.005, 0.005, -0.005};
        java.util.Arrays.fill(big, 10.0);
        double[] ref = Fd.concat(big, small);
        float[] got = Fd.f(Fd.concat(big, new double[small.length]));
        assertThat(Fd.norm(small) / Fd.norm(ref)).isLessThan(1e-4);
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> Fd.checkBlocks("zeroed", got, ref, new double[][]{big, small}, Fd.HVP_TOL))
                .hasMessageContaining("zeroed wrt input 1").hasMessageNotContaining("wrt input 0");
    }
}
