package dev.memwall.ops;

import dev.memwall.autograd.Engine;
import dev.memwall.autograd.Scope;
import dev.memwall.autograd.Tensor;
import dev.memwall.memory.Category;
import dev.memwall.memory.MemoryTracker;
import dev.memwall.rng.Rng;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

import java.util.List;
import java.util.stream.Stream;

import static dev.memwall.ops.Fd.Dist.NORMAL;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The fused attention ops against a double-precision reference (forward, gradient, HVP by finite differences) and
 * against the composed ops they replace, at shapes that are not multiples of anything: one batch entry, one head,
 * odd head widths, T not a multiple of 8.
 */
class FusedAttentionTest {
    /** {batch, T, heads, head width}. */
    private static final int[][] SHAPES = {{1, 5, 1, 3}, {2, 7, 3, 3}, {3, 9, 2, 5}, {1, 1, 2, 2}};

    private static Tensor fused(Tensor qkv, int heads) {
        Tensor p = FusedAttention.probs(qkv, heads);
        Tensor y = FusedAttention.attend(qkv, p, heads);
        p.release();
        return y;
    }

    /** Double reference: slice q, k, v into heads, softmax(mask(q·kᵀ/√hd)), P·v, heads merged. */
    private static Nd reference(Nd qkv, int heads) {
        int b = qkv.shape[0], t = qkv.shape[1], d = qkv.shape[2] / 3, hd = d / heads;
        Nd[] part = new Nd[3];
        for (int k = 0; k < 3; k++) {
            part[k] = Ref.permute(Ref.reshape(Ref.slice(qkv, 2, k * d, (k + 1) * d), b, t, heads, hd), 0, 2, 1, 3);
        }
        Nd scores = Ref.scale(Ref.matmul(part[0], part[1], false, true), 1 / Math.sqrt(hd));
        Nd p = Ref.softmax(Ref.causalMask(scores, Double.NEGATIVE_INFINITY));
        return Ref.reshape(Ref.permute(Ref.matmul(p, part[2], false, false), 0, 2, 1, 3), b, t, d);
    }

    private static Fd.OpCase opCase(int[] s) {
        int b = s[0], t = s[1], h = s[2], hd = s[3];
        return new Fd.OpCase("attention B" + b + " T" + t + " H" + h + " hd" + hd, in -> fused(in[0], h),
                x -> reference(x[0], h), new Fd.Dist[]{NORMAL}, new int[][]{{b, t, 3 * h * hd}}, false);
    }

    @TestFactory
    Stream<DynamicTest> gradientMatchesCentralDifferences() {
        return Stream.of(SHAPES).map(FusedAttentionTest::opCase).flatMap(c -> Stream.of(
                DynamicTest.dynamicTest(c.name(), () -> Fd.gradCheck(c, c.name().hashCode())),
                DynamicTest.dynamicTest(c.name() + " at an offset", () -> Fd.gradCheck(c, c.name().hashCode(), true))));
    }

    @TestFactory
    Stream<DynamicTest> hessianVectorProductMatchesFourPointDifferences() {
        return Stream.of(SHAPES).limit(3).map(FusedAttentionTest::opCase)
                .map(c -> DynamicTest.dynamicTest(c.name(), () -> Fd.hvpCheck(c, c.name().hashCode() + 1)));
    }

    /** Large enough that the heads are split over threads and T is past a GEMM's small-size paths. */
    @Test
    void largeShapesMatchTheReferenceWhereTheWorkIsSplitOverThreads() {
        Fd.gradCheckSampled(opCase(new int[]{2, 67, 3, 17}), 11);
    }

    @Test
    void fusedMatchesTheComposedOpsItReplaces() {
        // the last: T·T·hd past Gemm's split threshold, so a head's GEMMs would split if the task did not run them inline
        for (int[] s : new int[][]{{1, 13, 1, 7}, {2, 33, 3, 9}, {4, 130, 2, 16}, {1, 256, 2, 32}}) {
            int b = s[0], t = s[1], h = s[2], hd = s[3];
            try (Scope scope = Scope.open()) {
                Tensor x = Tensor.randn(new Rng(s[1]), 1.5f, b, t, 3 * h * hd).requiresGrad(true);
                Tensor w = Tensor.randn(new Rng(s[1] + 1), 1f, b, t, h * hd);
                Tensor yf = fused(x, h), yc = FusedAttention.composed(x, h);
                assertClose("forward " + List.of(b, t, h, hd), yf.toFloatArray(), yc.toFloatArray(), 2e-6);
                Tensor gf = Engine.grad(new Tensor[]{yf}, new Tensor[]{x}, new Tensor[]{w}, false)[0];
                Tensor gc = Engine.grad(new Tensor[]{yc}, new Tensor[]{x}, new Tensor[]{w}, false)[0];
                assertClose("gradient " + List.of(b, t, h, hd), gf.toFloatArray(), gc.toFloatArray(), 1e-5);
            }
        }
    }

    /** Norm-wise relative difference, the way the FD checks measure it. */
    private static void assertClose(String what, float[] got, float[] want, double tol) {
        double diff = 0, norm = 0;
        for (int i = 0; i < want.length; i++) {
            diff += (double) (got[i] - want[i]) * (got[i] - want[i]);
            norm += (double) want[i] * want[i];
        }
        assertThat(norm).as(what + " is not trivially zero").isGreaterThan(1e-6);
        assertThat(Math.sqrt(diff / norm)).as(what + ": relative difference").isLessThan(tol);
    }

    @Test
    void savesExactlyTheQkvOutputAndTheProbabilitiesAndFreesThemInBackward() {
        int b = 2, t = 11, h = 3, hd = 5, d = h * hd;
        MemoryTracker tracker = new MemoryTracker();
        try (var installed = MemoryTracker.install(tracker); Scope s = Scope.open()) {
            Tensor x = Tensor.randn(new Rng(1), 1f, b, t, 3 * d).requiresGrad(true);
            Tensor y = fused(x, h);
            assertThat(tracker.current(Category.ACTIVATION)).isEqualTo(4L * (3L * b * t * d + (long) b * h * t * t));
            // x counts as ACTIVATION while saved and p was released: y is all, the kernels' scratch went back
            assertThat(tracker.current(Category.TEMPORARY)).isEqualTo(4L * b * t * d);
            Engine.grad(new Tensor[]{y}, new Tensor[]{x}, new Tensor[]{Tensor.full(1f, b, t, d)}, false);
            assertThat(tracker.current(Category.ACTIVATION)).isZero();
        }
    }

    @Test
    void withoutGradModeNothingIsSavedAndTheResultIsTheSame() {
        Tensor x = Tensor.randn(new Rng(4), 1f, 2, 6, 12);
        Tensor y;
        try (var off = dev.memwall.autograd.GradMode.noGrad()) {
            y = fused(x.detach().requiresGrad(true), 2);
        }
        assertThat(y.requiresGrad()).isFalse();
        assertThat(y.toFloatArray()).containsExactly(fused(x, 2).toFloatArray());
    }

    @Test
    void badInputsAreNamed() {
        Tensor x = Tensor.zeros(2, 4, 12);
        assertThatThrownBy(() -> FusedAttention.probs(Tensor.zeros(2, 4, 10), 2)).hasMessageContaining("[B, T, 3·D]");
        assertThatThrownBy(() -> FusedAttention.probs(x, 3)).hasMessageContaining("not divisible into 3 heads");
        assertThatThrownBy(() -> FusedAttention.attend(x, Tensor.zeros(2, 2, 4, 5), 2))
                .hasMessageContaining("probabilities must be [2, 2, 4, 4]");
        Tensor tracked = Tensor.zeros(2, 2, 4, 4).requiresGrad(true);
        assertThatThrownBy(() -> FusedAttention.attend(x, F.mulScalar(tracked, 1f), 2))
                .hasMessageContaining("must come from FusedAttention.probs");
    }
}
