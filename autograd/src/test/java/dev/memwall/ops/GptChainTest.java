package dev.memwall.ops;

import dev.memwall.autograd.Scope;
import dev.memwall.autograd.Tensor;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A one-block GPT (token + position embedding, pre-norm causal self-attention with 2 heads, GELU MLP, residuals,
 * head, cross-entropy) built from F's ops, against the same chain written with the double references of {@link Ref}:
 * loss, gradient of every parameter (through {@code backward()}), and a Hessian-vector product wrt three parameters.
 */
class GptChainTest {
    static final int B = 2, T = 4, D = 8, H = 2, HD = D / H, V = 11, FF = 16;
    static final float EPS = 1e-5f;
    static final String[] NAMES = {"tok", "pos", "ln1w", "ln1b", "wqkv", "bqkv", "wproj", "bproj", "ln2w", "ln2b",
            "wfc", "bfc", "wout", "bout", "whead"};
    static final int[][] SHAPES = {{V, D}, {T, D}, {D}, {D}, {3 * D, D}, {3 * D}, {D, D}, {D}, {D}, {D},
            {FF, D}, {FF}, {D, FF}, {D}, {V, D}};
    static final int[] IDS = {3, 7, 3, 10, 0, 5, 5, 1};
    static final int[] TARGETS = {7, 3, -100, 2, 5, 5, 1, 9};

    /** Parameters rounded to float: embeddings ~N(0, .5²), weights ~N(0, .35²), norm gains ~1 + N(0, .1²), biases ~N(0, .1²). */
    static double[][] params(long seed) {
        Random r = new Random(seed);
        double[][] p = new double[NAMES.length][];
        for (int k = 0; k < p.length; k++) {
            String n = NAMES[k];
            double scale = n.equals("tok") || n.equals("pos") ? 0.5 : n.startsWith("w") ? 0.35 : 0.1;
            double shift = n.startsWith("ln") && n.endsWith("w") ? 1 : 0;
            p[k] = new double[Nd.numel(SHAPES[k])];
            for (int i = 0; i < p[k].length; i++) p[k][i] = (float) (shift + scale * r.nextGaussian());
        }
        return p;
    }

    static int idx(String name) {
        return List.of(NAMES).indexOf(name);
    }

    static Tensor heads(Tensor t) {
        return F.permute(F.reshape(t, B, T, H, HD), 0, 2, 1, 3);
    }

    /** The chain in memwall. */
    /** With {@code fusedAttention}, the probabilities come from F.causalSoftmax instead of mulScalar, causalMask, softmax. */
    static Tensor loss(Tensor[] p, boolean fusedAttention) {
        Tensor x = F.add(F.embedding(p[idx("tok")], Tensor.ints(IDS, B, T)), p[idx("pos")]);
        Tensor h = F.layerNorm(x, p[idx("ln1w")], p[idx("ln1b")], EPS);
        Tensor[] qkv = F.split(F.linear(h, p[idx("wqkv")], p[idx("bqkv")]), D, 2);
        Tensor q = heads(qkv[0]), k = heads(qkv[1]), v = heads(qkv[2]);
        Tensor att;
        if (fusedAttention) {
            att = F.causalSoftmax(F.matmul(q, k, false, true), (float) (1 / Math.sqrt(HD)));
        } else {
            att = F.mulScalar(F.matmul(q, k, false, true), (float) (1 / Math.sqrt(HD)));
            att = F.softmax(F.causalMask(att, Float.NEGATIVE_INFINITY));
        }
        Tensor o = F.reshape(F.permute(F.matmul(att, v, false, false), 0, 2, 1, 3), B, T, D);
        x = F.add(x, F.linear(o, p[idx("wproj")], p[idx("bproj")]));
        Tensor m = F.layerNorm(x, p[idx("ln2w")], p[idx("ln2b")], EPS);
        m = F.linear(F.gelu(F.linear(m, p[idx("wfc")], p[idx("bfc")])), p[idx("wout")], p[idx("bout")]);
        x = F.add(x, m);
        return F.crossEntropy(F.linear(x, p[idx("whead")], null), Tensor.ints(TARGETS, B, T));
    }

    static Nd refHeads(Nd t) {
        return Ref.permute(Ref.reshape(t, B, T, H, HD), 0, 2, 1, 3);
    }

    /** The same chain in double. */
    static double refLoss(double[][] pa) {
        Nd[] p = new Nd[pa.length];
        for (int k = 0; k < p.length; k++) p[k] = new Nd(SHAPES[k], pa[k]);
        Nd x = Ref.add(Ref.embedding(p[idx("tok")], IDS, new int[]{B, T}), p[idx("pos")]);
        Nd h = Ref.layerNorm(x, p[idx("ln1w")], p[idx("ln1b")], EPS);
        Nd qkv = Ref.linear(h, p[idx("wqkv")], p[idx("bqkv")]);
        Nd q = refHeads(Ref.slice(qkv, 2, 0, D)), k = refHeads(Ref.slice(qkv, 2, D, 2 * D)), v = refHeads(Ref.slice(qkv, 2, 2 * D, 3 * D));
        Nd att = Ref.scale(Ref.matmul(q, k, false, true), 1 / Math.sqrt(HD));
        att = Ref.softmax(Ref.causalMask(att, Double.NEGATIVE_INFINITY));
        Nd o = Ref.reshape(Ref.permute(Ref.matmul(att, v, false, false), 0, 2, 1, 3), B, T, D);
        x = Ref.add(x, Ref.linear(o, p[idx("wproj")], p[idx("bproj")]));
        Nd m = Ref.layerNorm(x, p[idx("ln2w")], p[idx("ln2b")], EPS);
        m = Ref.linear(Ref.gelu(Ref.linear(m, p[idx("wfc")], p[idx("bfc")])), p[idx("wout")], p[idx("bout")]);
        x = Ref.add(x, m);
        return Ref.crossEntropy(Ref.linear(x, p[idx("whead")], null), TARGETS, -100).d[0];
    }

    static Tensor[] tensors(double[][] p) {
        Tensor[] t = new Tensor[p.length];
        for (int k = 0; k < p.length; k++) t[k] = Tensor.of(Fd.f(p[k]), SHAPES[k]).requiresGrad(true);
        return t;
    }

    @ParameterizedTest(name = "fusedAttention={0}")
    @ValueSource(booleans = {false, true})
    void lossAndGradientOfEveryParameter(boolean fused) {
        double[][] p = params(1);
        double ref = refLoss(p);
        try (Scope s = Scope.open()) {
            Tensor[] t = tensors(p);
            Tensor l = loss(t, fused);
            assertThat((double) l.item()).as("loss").isCloseTo(ref, org.assertj.core.data.Offset.offset(1e-5 * Math.abs(ref)));
            l.backward();
            List<String> failures = new ArrayList<>();
            for (int k = 0; k < p.length; k++) {
                int kk = k;
                double[] gRef = Fd.gradient(pk -> {
                    double[][] p2 = p.clone();
                    p2[kk] = pk;
                    return refLoss(p2);
                }, p[k], 1e-6);
                assertThat(Fd.norm(gRef)).as(NAMES[k] + " reference gradient").isGreaterThan(1e-4);
                assertThat(t[k].grad()).as(NAMES[k] + ".grad()").isNotNull();
                Fd.check(failures, "gradient of " + NAMES[k], t[k].grad().toFloatArray(), gRef, Fd.GRAD_TOL);
            }
            assertThat(failures).as(String.join("\n", failures)).isEmpty();
        }
    }

    @ParameterizedTest(name = "fusedAttention={0}")
    @ValueSource(booleans = {false, true})
    void hessianVectorProductWrtThreeParameters(boolean fused) {
        double[][] p = params(2);
        String[] wrt = {"wqkv", "ln1w", "wfc"};
        int[] at = new int[wrt.length];
        int[][] shapes = new int[wrt.length][];
        double[][] xs = new double[wrt.length][], vs = new double[wrt.length][];
        Random r = new Random(3);
        for (int j = 0; j < wrt.length; j++) {
            at[j] = idx(wrt[j]);
            shapes[j] = SHAPES[at[j]];
            xs[j] = p[at[j]];
            vs[j] = Fd.normal(r, xs[j].length);
        }
        double[] ref = Fd.hvp(flat -> {
            double[][] p2 = p.clone();
            Nd[] parts = Fd.split(flat, shapes);
            for (int j = 0; j < wrt.length; j++) p2[at[j]] = parts[j].d;
            return refLoss(p2);
        }, Fd.concat(xs), Fd.concat(vs), 1e-4, 1e-4);
        assertThat(Fd.norm(ref)).as("reference HVP must not vanish").isGreaterThan(1e-2);
        float[] got = Fd.memwallHvp(xs, shapes, vs, in -> {
            Tensor[] t = tensors(p);
            for (int j = 0; j < wrt.length; j++) t[at[j]] = in[j];
            return loss(t, fused);
        });
        Fd.checkBlocks("GPT HVP", got, ref, xs, Fd.HVP_TOL);
    }
}
