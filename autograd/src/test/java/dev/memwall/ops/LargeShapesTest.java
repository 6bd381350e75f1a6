package dev.memwall.ops;

import dev.memwall.ops.Fd.OpCase;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;

import static dev.memwall.ops.Fd.Dist.NONZERO;
import static dev.memwall.ops.Fd.Dist.NORMAL;
import static dev.memwall.ops.Fd.Dist.POSITIVE;
import static dev.memwall.ops.Fd.Dist.WIDE;
import static dev.memwall.ops.GradCheckTest.boolMask;
import static dev.memwall.ops.GradCheckTest.ids;
import static dev.memwall.ops.GradCheckTest.op;
import static dev.memwall.ops.GradCheckTest.s;

/**
 * Shapes big enough (more than 2 × Parallel.GRAIN element-operations) that the kernels split their loops over
 * threads, so chunk boundaries, per-chunk partial sums and column splits are exercised. Full forward vs the double
 * reference; gradient at sampled coordinates and along a random direction (see {@link Fd#gradCheckSampled}).
 */
class LargeShapesTest {
    static List<OpCase> cases() {
        List<OpCase> c = new ArrayList<>();
        c.add(op("add[64,2100]+[2100]", true, NORMAL, t -> F.add(t[0], t[1]), x -> Ref.add(x[0], x[1]), s(64, 2100), s(2100)));
        c.add(op("mul[64,2100]*[64,1]", false, NORMAL, t -> F.mul(t[0], t[1]), x -> Ref.mul(x[0], x[1]), s(64, 2100), s(64, 1)));
        c.add(op("sub[350,400]-[350,400]", true, NORMAL, t -> F.sub(t[0], t[1]), x -> Ref.sub(x[0], x[1]), s(350, 400), s(350, 400)));
        c.add(new OpCase("div[140000]/[140000]", t -> F.div(t[0], t[1]), x -> Ref.div(x[0], x[1]),
                new Fd.Dist[]{NORMAL, NONZERO}, new int[][]{s(140000), s(140000)}, false));
        c.add(op("mulScalar", true, NORMAL, t -> F.mulScalar(t[0], 1.5f), x -> Ref.map(x[0], v -> v * 1.5), s(140000)));
        c.add(op("exp", false, NORMAL, t -> F.exp(t[0]), x -> Ref.map(x[0], Math::exp), s(40000)));
        c.add(op("tanh", false, WIDE, t -> F.tanh(t[0]), x -> Ref.map(x[0], Math::tanh), s(40000)));
        c.add(op("log", false, POSITIVE, t -> F.log(t[0]), x -> Ref.map(x[0], Math::log), s(40000)));
        c.add(op("pow1.7", false, POSITIVE, t -> F.pow(t[0], 1.7f), x -> Ref.map(x[0], v -> Math.pow(v, 1.7f)), s(40000)));
        c.add(op("sum[300,500]axis0", true, NORMAL, t -> F.sum(t[0], 0, false), x -> Ref.sum(x[0], 0, false), s(300, 500)));
        c.add(op("sum[300,500]axis1", true, NORMAL, t -> F.sum(t[0], 1, true), x -> Ref.sum(x[0], 1, true), s(300, 500)));
        c.add(op("mean[3,300,200]axis1", true, NORMAL, t -> F.mean(t[0], 1, false), x -> Ref.mean(x[0], 1, false), s(3, 300, 200)));
        c.add(op("sumTo[600,300]->[300]", true, NORMAL, t -> F.sumTo(t[0], 300), x -> Ref.sumTo(x[0], 300), s(600, 300)));
        c.add(op("linear[300,16]x[512,16]", false, NORMAL, t -> F.linear(t[0], t[1], t[2]), x -> Ref.linear(x[0], x[1], x[2]),
                s(300, 16), s(512, 16), s(512)));
        c.add(op("causalSoftmax[8,128,128]", false, NORMAL, t -> F.causalSoftmax(t[0], 0.7f),
                x -> Ref.softmax(Ref.causalMask(Ref.scale(x[0], 0.7f), Double.NEGATIVE_INFINITY)), s(8, 128, 128)));
        c.add(op("softmax[200,300]", false, WIDE, t -> F.softmax(t[0]), x -> Ref.softmax(x[0]), s(200, 300)));
        c.add(op("logSoftmax[200,300]", false, WIDE, t -> F.logSoftmax(t[0]), x -> Ref.logSoftmax(x[0]), s(200, 300)));
        c.add(op("layerNorm[300,128]", false, NORMAL, t -> F.layerNorm(t[0], t[1], t[2], 1e-5f),
                x -> Ref.layerNorm(x[0], x[1], x[2], 1e-5f), s(300, 128), s(128), s(128)));
        c.add(op("gelu", false, WIDE, t -> F.gelu(t[0]), x -> Ref.gelu(x[0]), s(40000)));
        Random r = new Random(5);
        int[] targets = new int[300], rows = new int[600];
        for (int i = 0; i < targets.length; i++) targets[i] = i % 37 == 5 ? -100 : r.nextInt(200);
        for (int i = 0; i < rows.length; i++) rows[i] = r.nextInt(500);
        c.add(op("crossEntropy[300,200]", false, WIDE, t -> F.crossEntropy(t[0], ids(targets, s(300))),
                x -> Ref.crossEntropy(x[0], targets, -100), s(300, 200)));
        c.add(op("embedding[500,300]x600", true, NORMAL, t -> F.embedding(t[0], ids(rows, s(600))),
                x -> Ref.embedding(x[0], rows, s(600)), s(500, 300)));
        c.add(op("scatterAddRows[600,300]->500", true, NORMAL, t -> F.scatterAddRows(t[0], ids(rows, s(600)), 500),
                x -> Ref.scatterAddRows(x[0], rows, 500), s(600, 300)));
        c.add(op("permute[60,50,50](2,0,1)", true, NORMAL, t -> F.permute(t[0], 2, 0, 1), x -> Ref.permute(x[0], 2, 0, 1), s(60, 50, 50)));
        c.add(op("slice[600,400]axis1", true, NORMAL, t -> F.slice(t[0], 1, 100, 350), x -> Ref.slice(x[0], 1, 100, 350), s(600, 400)));
        c.add(op("pad[600,250]axis1", true, NORMAL, t -> F.pad(t[0], 1, 100, 400), x -> Ref.pad(x[0], 1, 100, 400), s(600, 250)));
        c.add(op("causalMask[8,128,128]", true, NORMAL, t -> F.causalMask(t[0], -2f), x -> Ref.causalMask(x[0], -2f), s(8, 128, 128)));
        boolean[] keep = new boolean[140000];
        for (int i = 0; i < keep.length; i++) keep[i] = r.nextDouble() < 0.7;
        c.add(op("maskScale[140000]", true, NORMAL, t -> F.maskScale(t[0], boolMask(keep, 140000), 1f / 0.7f),
                x -> Ref.maskScale(x[0], keep, 1f / 0.7f), s(140000)));
        return c;
    }

    @TestFactory
    Stream<DynamicTest> largeShapes() {
        return cases().stream().map(c -> DynamicTest.dynamicTest(c.name(), () -> Fd.gradCheckSampled(c, c.name().hashCode())));
    }
}
