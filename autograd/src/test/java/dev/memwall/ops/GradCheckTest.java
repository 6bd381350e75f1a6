package dev.memwall.ops;

import dev.memwall.autograd.DType;
import dev.memwall.autograd.Engine;
import dev.memwall.autograd.GradMode;
import dev.memwall.autograd.Scope;
import dev.memwall.autograd.Tensor;
import dev.memwall.memory.Category;
import dev.memwall.ops.Fd.Dist;
import dev.memwall.ops.Fd.OpCase;
import dev.memwall.rng.Rng;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.function.Function;
import java.util.stream.Stream;

import static dev.memwall.ops.Fd.Dist.NONZERO;
import static dev.memwall.ops.Fd.Dist.NORMAL;
import static dev.memwall.ops.Fd.Dist.POSITIVE;
import static dev.memwall.ops.Fd.Dist.WIDE;
import static org.assertj.core.api.Assertions.assertThat;

/** Every op of {@link F}: forward vs a double reference, gradient vs central differences of that reference. */
class GradCheckTest {
    static int[] s(int... dims) {
        return dims;
    }

    static OpCase op(String name, boolean linear, Dist dist, Function<Tensor[], Tensor> op, Function<Nd[], Nd> ref, int[]... shapes) {
        Dist[] ds = new Dist[shapes.length];
        Arrays.fill(ds, dist);
        return new OpCase(name, op, ref, ds, shapes, linear);
    }

    static Tensor ids(int[] ids, int[] shape) {
        return Tensor.ints(ids, shape);
    }

    static Tensor boolMask(boolean[] keep, int... shape) {
        Tensor m = Tensor.empty(DType.BOOL, Category.TEMPORARY, "test.mask", shape);
        for (int i = 0; i < keep.length; i++) m.byteData()[m.offset() + i] = (byte) (keep[i] ? 1 : 0);
        return m;
    }

    /** The op cases shared with {@link HvpTest}. */
    static List<OpCase> cases() {
        List<OpCase> c = new ArrayList<>();
        int[][][] pairs = {{s(2, 3), s(3)}, {s(2, 1, 4), s(3, 1)}, {s(4), s(2, 3, 4)}, {s(), s(2, 3)}, {s(2, 3), s()},
                {s(3, 1), s(1, 4)}, {s(2, 3, 4), s(2, 1, 4)}, {s(2, 3), s(2, 3)}, {s(1), s(2, 2)}};
        for (int[][] p : pairs) {
            String sh = Arrays.toString(p[0]) + "," + Arrays.toString(p[1]);
            c.add(op("add" + sh, true, NORMAL, t -> F.add(t[0], t[1]), x -> Ref.add(x[0], x[1]), p));
            c.add(op("sub" + sh, true, NORMAL, t -> F.sub(t[0], t[1]), x -> Ref.sub(x[0], x[1]), p));
            c.add(op("mul" + sh, false, NORMAL, t -> F.mul(t[0], t[1]), x -> Ref.mul(x[0], x[1]), p));
            c.add(new OpCase("div" + sh, t -> F.div(t[0], t[1]), x -> Ref.div(x[0], x[1]), new Dist[]{NORMAL, NONZERO}, p, false));
        }
        c.add(op("addScalar", true, NORMAL, t -> F.addScalar(t[0], 0.7f), x -> Ref.map(x[0], v -> v + 0.7f), s(2, 3)));
        c.add(op("mulScalar", true, NORMAL, t -> F.mulScalar(t[0], -1.3f), x -> Ref.map(x[0], v -> v * -1.3f), s(2, 3)));
        c.add(op("exp", false, NORMAL, t -> F.exp(t[0]), x -> Ref.map(x[0], Math::exp), s(3, 4)));
        c.add(op("log", false, POSITIVE, t -> F.log(t[0]), x -> Ref.map(x[0], Math::log), s(3, 4)));
        c.add(op("tanh", false, WIDE, t -> F.tanh(t[0]), x -> Ref.map(x[0], Math::tanh), s(3, 4)));
        for (float p : new float[]{2f, 3f, 0.5f, -0.5f, 1.7f}) {
            c.add(op("pow" + p, false, POSITIVE, t -> F.pow(t[0], p), x -> Ref.map(x[0], v -> Math.pow(v, p)), s(3, 4)));
        }
        for (float p : new float[]{2f, 3f}) {
            c.add(op("pow" + p + "(signed)", false, NORMAL, t -> F.pow(t[0], p), x -> Ref.map(x[0], v -> Math.pow(v, p)), s(3, 4)));
        }
        for (int axis : new int[]{0, 1, 2, -1}) {
            for (boolean keep : new boolean[]{true, false}) {
                String sfx = "(axis=" + axis + ",keep=" + keep + ")";
                c.add(op("sum" + sfx, true, NORMAL, t -> F.sum(t[0], axis, keep), x -> Ref.sum(x[0], axis, keep), s(2, 3, 4)));
                c.add(op("mean" + sfx, true, NORMAL, t -> F.mean(t[0], axis, keep), x -> Ref.mean(x[0], axis, keep), s(2, 3, 4)));
            }
        }
        c.add(op("sumAll", true, NORMAL, t -> F.sumAll(t[0]), x -> Ref.sumAll(x[0]), s(3, 4)));
        c.add(op("meanAll", true, NORMAL, t -> F.meanAll(t[0]), x -> Ref.meanAll(x[0]), s(3, 4)));
        int[][][] expands = {{s(3, 1), s(2, 3, 4)}, {s(4), s(3, 4)}, {s(), s(2, 2)}, {s(2, 1, 3), s(2, 4, 3)}};
        for (int[][] e : expands) {
            c.add(op("expand" + Arrays.toString(e[0]) + "->" + Arrays.toString(e[1]), true, NORMAL,
                    t -> F.expand(t[0], e[1]), x -> Ref.expand(x[0], e[1]), e[0]));
        }
        int[][][] sums = {{s(2, 3, 4), s(3, 1)}, {s(2, 3, 4), s(4)}, {s(2, 3, 4), s(1, 3, 1)}, {s(2, 3), s()}, {s(2, 3, 4), s(2, 1, 4)},
                {s(2, 3, 4), s(3, 4)}, {s(2, 3, 4), s(1, 3, 4)}, {s(2, 3, 1), s(3, 1)}};
        for (int[][] e : sums) {
            c.add(op("sumTo" + Arrays.toString(e[0]) + "->" + Arrays.toString(e[1]), true, NORMAL,
                    t -> F.sumTo(t[0], e[1]), x -> Ref.sumTo(x[0], e[1]), e[0]));
        }
        for (int[] mkn : new int[][]{{3, 4, 2}, {1, 5, 1}, {2, 1, 3}}) { // (m, k, n), incl. degenerate sizes
            int m = mkn[0], k = mkn[1], n = mkn[2];
            for (boolean ta : new boolean[]{false, true}) {
                for (boolean tb : new boolean[]{false, true}) {
                    int[] a = ta ? s(k, m) : s(m, k), b = tb ? s(n, k) : s(k, n);
                    int[][][] forms = {{a, b}, {pre(a, 2), pre(b, 2)}, {pre(a, 2, 3), pre(b, 2, 3)}, {pre(a, 2), b}, {a, pre(b, 2)}};
                    String[] names = {"2D", "3D", "4D", "3Dx2D", "2Dx3D"};
                    for (int f = 0; f < forms.length; f++) {
                        c.add(op("matmul" + names[f] + Arrays.toString(mkn) + "(ta=" + ta + ",tb=" + tb + ")", false, NORMAL,
                                t -> F.matmul(t[0], t[1], ta, tb), x -> Ref.matmul(x[0], x[1], ta, tb), forms[f]));
                    }
                }
            }
        }
        c.add(op("linear", false, NORMAL, t -> F.linear(t[0], t[1], t[2]), x -> Ref.linear(x[0], x[1], x[2]), s(2, 3, 4), s(5, 4), s(5)));
        c.add(op("linear(noBias)", false, NORMAL, t -> F.linear(t[0], t[1], null), x -> Ref.linear(x[0], x[1], null), s(3, 4), s(5, 4)));
        c.add(op("linear(1D)", false, NORMAL, t -> F.linear(t[0], t[1], t[2]), x -> Ref.linear(x[0], x[1], x[2]), s(4), s(3, 4), s(3)));
        c.add(op("linear(4D)", false, NORMAL, t -> F.linear(t[0], t[1], t[2]), x -> Ref.linear(x[0], x[1], x[2]), s(2, 2, 1, 3), s(2, 3), s(2)));
        c.add(op("reshape[6,4]", true, NORMAL, t -> F.reshape(t[0], 6, 4), x -> Ref.reshape(x[0], 6, 4), s(2, 3, 4)));
        c.add(op("reshape[4,-1]", true, NORMAL, t -> F.reshape(t[0], 4, -1), x -> Ref.reshape(x[0], 4, 6), s(2, 3, 4)));
        c.add(op("reshape[3,1,2]", true, NORMAL, t -> F.reshape(t[0], 3, 1, 2), x -> Ref.reshape(x[0], 3, 1, 2), s(2, 3)));
        int[][] perms = {s(0, 2, 1), s(2, 0, 1), s(1, 2, 0), s(0, 2, 1, 3), s(3, 1, 0, 2), s(1, 3, 2, 0)};
        for (int[] p : perms) {
            int[] shape = p.length == 3 ? s(2, 3, 4) : s(2, 3, 4, 2);
            c.add(op("permute" + Arrays.toString(p), true, NORMAL, t -> F.permute(t[0], p), x -> Ref.permute(x[0], p), shape));
        }
        int[][] tps = {s(0, 2), s(1, -1), s(2, 0)};
        for (int[] p : tps) {
            c.add(op("transpose" + Arrays.toString(p), true, NORMAL, t -> F.transpose(t[0], p[0], p[1]),
                    x -> Ref.transpose(x[0], p[0], p[1]), s(2, 3, 4)));
        }
        c.add(op("transpose2D", true, NORMAL, t -> F.transpose(t[0], 0, 1), x -> Ref.transpose(x[0], 0, 1), s(3, 5)));
        int[][] slices = {s(0, 1, 3), s(1, 0, 2), s(2, 2, 5), s(-1, 1, 4), s(1, 3, 4)};
        for (int[] p : slices) {
            c.add(op("slice" + Arrays.toString(p), true, NORMAL, t -> F.slice(t[0], p[0], p[1], p[2]),
                    x -> Ref.slice(x[0], p[0], p[1], p[2]), s(3, 4, 5)));
        }
        int[][] pads = {s(1, 1, 5), s(0, 2, 4), s(2, 0, 6), s(-1, 3, 7)};
        for (int[] p : pads) {
            c.add(op("pad" + Arrays.toString(p), true, NORMAL, t -> F.pad(t[0], p[0], p[1], p[2]),
                    x -> Ref.pad(x[0], p[0], p[1], p[2]), s(2, 3, 4)));
        }
        c.add(op("concat0", true, NORMAL, t -> F.concat(0, t), x -> Ref.concat(0, x), s(1, 3, 2), s(2, 3, 2), s(3, 3, 2)));
        c.add(op("concat1", true, NORMAL, t -> F.concat(1, t), x -> Ref.concat(1, x), s(2, 1, 2), s(2, 3, 2)));
        c.add(op("concat-1", true, NORMAL, t -> F.concat(-1, t), x -> Ref.concat(2, x), s(2, 3, 1), s(2, 3, 3), s(2, 3, 2)));
        int[][] splits = {s(1, 2, 0), s(1, 2, 1), s(1, 2, 2), s(2, 2, 0), s(2, 2, 1), s(0, 1, 1)}; // axis, size, piece
        for (int[] p : splits) {
            c.add(op("split" + Arrays.toString(p), true, NORMAL, t -> F.split(t[0], p[1], p[0])[p[2]],
                    x -> Ref.slice(x[0], p[0], p[2] * p[1], Math.min(x[0].shape[p[0]], (p[2] + 1) * p[1])), s(2, 5, 3)));
        }
        int[] e1 = {1, 3, 1, 0, 5, 3, 3, 2};
        c.add(op("embedding[2,4]", true, NORMAL, t -> F.embedding(t[0], ids(e1, s(2, 4))), x -> Ref.embedding(x[0], e1, s(2, 4)), s(6, 3)));
        int[] e2 = {4, 4, 4};
        c.add(op("embedding[3]", true, NORMAL, t -> F.embedding(t[0], ids(e2, s(3))), x -> Ref.embedding(x[0], e2, s(3)), s(6, 3)));
        c.add(op("scatterAddRows[2,4,3]", true, NORMAL, t -> F.scatterAddRows(t[0], ids(e1, s(2, 4)), 6),
                x -> Ref.scatterAddRows(x[0], e1, 6), s(2, 4, 3)));
        c.add(op("scatterAddRows[3,2]", true, NORMAL, t -> F.scatterAddRows(t[0], ids(e2, s(3)), 5),
                x -> Ref.scatterAddRows(x[0], e2, 5), s(3, 2)));
        c.add(op("softmax[3,5]", false, WIDE, t -> F.softmax(t[0]), x -> Ref.softmax(x[0]), s(3, 5)));
        c.add(op("softmax[2,2,4]", false, NORMAL, t -> F.softmax(t[0]), x -> Ref.softmax(x[0]), s(2, 2, 4)));
        c.add(op("logSoftmax[3,5]", false, WIDE, t -> F.logSoftmax(t[0]), x -> Ref.logSoftmax(x[0]), s(3, 5)));
        c.add(op("logSoftmax[2,2,4]", false, NORMAL, t -> F.logSoftmax(t[0]), x -> Ref.logSoftmax(x[0]), s(2, 2, 4)));
        double eps = 1e-5f;
        c.add(op("layerNorm(w,b)", false, NORMAL, t -> F.layerNorm(t[0], t[1], t[2], 1e-5f),
                x -> Ref.layerNorm(x[0], x[1], x[2], eps), s(2, 3, 6), s(6), s(6)));
        c.add(op("layerNorm(null,null)", false, NORMAL, t -> F.layerNorm(t[0], null, null, 1e-5f),
                x -> Ref.layerNorm(x[0], null, null, eps), s(4, 5)));
        c.add(op("layerNorm(w,null)", false, NORMAL, t -> F.layerNorm(t[0], t[1], null, 1e-5f),
                x -> Ref.layerNorm(x[0], x[1], null, eps), s(3, 5), s(5)));
        c.add(op("layerNorm(null,b)", false, NORMAL, t -> F.layerNorm(t[0], null, t[1], 1e-5f),
                x -> Ref.layerNorm(x[0], null, x[1], eps), s(3, 5), s(5)));
        c.add(op("gelu", false, WIDE, t -> F.gelu(t[0]), x -> Ref.gelu(x[0]), s(3, 7)));
        int[] t1 = {3, -100, 0, 6, 2}, t2 = {0, 3, 1, 2, 2, 0}, t3 = {1, 0, 2, 1};
        c.add(op("crossEntropy(ignored)", false, WIDE, t -> F.crossEntropy(t[0], ids(t1, s(5))),
                x -> Ref.crossEntropy(x[0], t1, -100), s(5, 7)));
        c.add(op("crossEntropy3D", false, NORMAL, t -> F.crossEntropy(t[0], ids(t2, s(2, 3))),
                x -> Ref.crossEntropy(x[0], t2, -100), s(2, 3, 4)));
        c.add(op("crossEntropy(ignoreIndex=1)", false, NORMAL, t -> F.crossEntropy(t[0], ids(t3, s(4)), 1),
                x -> Ref.crossEntropy(x[0], t3, 1), s(4, 3)));
        c.add(op("causalMask[2,4,4]", true, NORMAL, t -> F.causalMask(t[0], -3.5f), x -> Ref.causalMask(x[0], -3.5f), s(2, 4, 4)));
        c.add(op("causalMask[2,2,3,3]", true, NORMAL, t -> F.causalMask(t[0], 1.25f), x -> Ref.causalMask(x[0], 1.25f), s(2, 2, 3, 3)));
        c.add(op("causalMask[5,5]", true, NORMAL, t -> F.causalMask(t[0], 0f), x -> Ref.causalMask(x[0], 0), s(5, 5)));
        for (int[] shape : new int[][]{s(2, 4, 4), s(2, 2, 3, 3)}) {
            c.add(op("causalMask(-inf)+softmax" + Arrays.toString(shape), false, NORMAL,
                    t -> F.softmax(F.causalMask(t[0], Float.NEGATIVE_INFINITY)),
                    x -> Ref.softmax(Ref.causalMask(x[0], Double.NEGATIVE_INFINITY)), shape));
        }
        for (int[] shape : new int[][]{s(2, 4, 4), s(2, 2, 3, 3), s(5, 5)}) {
            float scale = shape.length == 3 ? 0.5f : 0.37f;
            c.add(op("causalSoftmax" + Arrays.toString(shape), false, NORMAL, t -> F.causalSoftmax(t[0], scale),
                    x -> Ref.softmax(Ref.causalMask(Ref.scale(x[0], scale), Double.NEGATIVE_INFINITY)), shape));
        }
        c.add(op("causalSoftmax(scale=-1.3)", false, NORMAL, t -> F.causalSoftmax(t[0], -1.3f),
                x -> Ref.softmax(Ref.causalMask(Ref.scale(x[0], -1.3f), Double.NEGATIVE_INFINITY)), s(3, 3)));
        boolean[] keep = new boolean[12];
        Random r = new Random(7);
        for (int i = 0; i < keep.length; i++) keep[i] = r.nextDouble() > 0.4;
        c.add(op("maskScale", true, NORMAL, t -> F.maskScale(t[0], boolMask(keep, 3, 4), 1.7f),
                x -> Ref.maskScale(x[0], keep, 1.7f), s(3, 4)));
        return c;
    }

    private static int[] pre(int[] shape, int... batch) {
        int[] r = Arrays.copyOf(batch, batch.length + shape.length);
        System.arraycopy(shape, 0, r, batch.length, shape.length);
        return r;
    }

    @TestFactory
    Stream<DynamicTest> gradientMatchesCentralDifferences() {
        return cases().stream().map(c -> DynamicTest.dynamicTest(c.name(), () -> Fd.gradCheck(c, c.name().hashCode())));
    }

    /** The same with every input a view at a nonzero offset into a NaN-filled buffer (a parameter in a flat buffer). */
    @TestFactory
    Stream<DynamicTest> gradientOfInputsAtAnOffset() {
        return cases().stream().map(c -> DynamicTest.dynamicTest(c.name(), () -> Fd.gradCheck(c, c.name().hashCode() + 1, true)));
    }

    @TestFactory
    Stream<DynamicTest> noGradRecordsNothing() {
        return cases().stream().map(c -> DynamicTest.dynamicTest(c.name(), () -> {
            try (Scope sc = Scope.open(); var ng = GradMode.noGrad()) {
                Tensor[] ts = Fd.tensors(Fd.inputs(c, new Random(1)), c.shapes());
                Tensor y = c.op().apply(ts);
                assertThat(y.requiresGrad()).as("requiresGrad").isFalse();
                assertThat(y.gradFn()).as("gradFn").isNull();
            }
        }));
    }

    @Test
    void splitCountsAndShapes() {
        try (Scope sc = Scope.open()) {
            Tensor[] p = F.split(Tensor.zeros(2, 5, 3), 2, 1);
            assertThat(p).hasSize(3);
            assertThat(p[0].shape()).containsExactly(2, 2, 3);
            assertThat(p[2].shape()).containsExactly(2, 1, 3);
            assertThat(F.split(Tensor.zeros(4, 6), 3, -1)).hasSize(2);
        }
    }

    /** Every target ignored: the mean over no rows is 0, and so are its gradient and its Hessian. */
    @Test
    void crossEntropyWithEveryTargetIgnored() {
        try (Scope sc = Scope.open()) {
            Tensor x = Tensor.of(new float[]{0.3f, -1f, 2f, 0.5f, 1f, -0.2f}, 2, 3).requiresGrad(true);
            Tensor l = F.crossEntropy(x, Tensor.ints(new int[]{-100, -100}, 2));
            assertThat(l.item()).isZero();
            Tensor g = Engine.grad(l, x, true);
            assertThat(g.toFloatArray()).containsOnly(0f);
            assertThat(Engine.grad(l, x, false).toFloatArray()).containsOnly(0f);
        }
    }

    /** x != 0 everywhere, so the output is 0 exactly where dropout dropped: the mask is recovered from it. */
    @Test
    void dropoutMatchesMaskRecoveredFromOutput() {
        float p = 0.3f;
        int n = 400;
        Random rnd = new Random(11);
        double[] x = Fd.sample(rnd, NONZERO, n), w = Fd.normal(rnd, n);
        try (Scope sc = Scope.open()) {
            Tensor xt = Tensor.of(Fd.f(x), 20, 20).requiresGrad(true);
            Tensor y = F.dropout(xt, p, true, new Rng(42));
            float[] yv = y.toFloatArray();
            boolean[] keep = new boolean[n];
            int kept = 0;
            for (int i = 0; i < n; i++) {
                keep[i] = yv[i] != 0f;
                if (keep[i]) kept++;
            }
            assertThat(kept).as("kept of %d at p=%s", n, p).isBetween(240, 320); // 280 ± 4.4 sigma
            double scale = 1.0 / (1 - p);
            Fd.assertClose("dropout forward", yv, Ref.maskScale(new Nd(new int[]{20, 20}, x), keep, scale).d, 1e-6);
            Tensor g = Engine.grad(new Tensor[]{y}, new Tensor[]{xt}, new Tensor[]{Tensor.of(Fd.f(w), 20, 20)}, false)[0];
            double[] gRef = Fd.gradient(v -> Fd.dot(w, Ref.maskScale(new Nd(new int[]{20, 20}, v), keep, scale).d), x, 1e-6);
            Fd.assertClose("dropout gradient", g.toFloatArray(), gRef, Fd.GRAD_TOL);
            // same seed, same mask; training=false is the identity
            assertThat(F.dropout(xt, p, true, new Rng(42)).toFloatArray()).containsExactly(yv);
            assertThat(F.dropout(xt, p, false, new Rng(42)).toFloatArray()).containsExactly(Fd.f(x));
        }
    }

    /**
     * expand / sumTo to the input's own shape take a fast path that returns {@code x.share()}, an alias that keeps
     * x's autograd identity. Under noGrad that hands out a result with requiresGrad=true (and, for a non-leaf, the
     * producer's gradFn), while the same ops to any other shape return a fresh tensor without history: whether a
     * no-grad result is differentiable then depends on the shape. (PyTorch: x.expand(x.shape) under no_grad does not
     * require grad.)
     */
    @Test
    void noGradExpandAndSumToSameShapeRecordNothing() {
        try (Scope sc = Scope.open()) {
            Tensor x = Tensor.of(new float[]{1f, -2f, 3f, 4f}, 2, 2).requiresGrad(true);
            Tensor h = F.exp(x); // a non-leaf with a producer
            List<String> recorded = new ArrayList<>();
            try (var ng = GradMode.noGrad()) {
                for (Tensor in : new Tensor[]{x, h}) {
                    Tensor[] outs = {F.expand(in, 2, 2), F.sumTo(in, 2, 2), F.expand(in, 3, 2, 2), F.sumTo(in, 1, 2)};
                    String[] names = {"expand(same shape)", "sumTo(same shape)", "expand(other shape)", "sumTo(other shape)"};
                    for (int k = 0; k < outs.length; k++) {
                        if (outs[k].gradFn() != null || outs[k].requiresGrad()) {
                            recorded.add(names[k] + " of " + (in == x ? "a leaf" : "exp(x)") + ": requiresGrad="
                                    + outs[k].requiresGrad() + ", gradFn=" + outs[k].gradFn());
                        }
                    }
                }
            }
            assertThat(recorded).as("results under noGrad that carry autograd history").isEmpty();
        }
    }

    /** Dropout that drops nothing returns its input (like PyTorch's at::dropout): no new node, same values. */
    @Test
    void dropoutIdentityRecordsNoNewNode() {
        try (Scope sc = Scope.open()) {
            Tensor x = Tensor.of(new float[]{1f, -2f, 3f, 4f}, 2, 2).requiresGrad(true);
            Tensor h = F.exp(x);
            for (Tensor y : new Tensor[]{F.dropout(h, 0.3f, false, new Rng(1)), F.dropout(h, 0f, true, new Rng(1))}) {
                assertThat(y.gradFn()).isSameAs(h.gradFn());
                assertThat(y.toFloatArray()).containsExactly(h.toFloatArray());
            }
        }
    }
}
