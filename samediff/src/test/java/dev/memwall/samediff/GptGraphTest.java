package dev.memwall.samediff;

import dev.memwall.nn.GptConfig;
import dev.memwall.testing.ReferenceGpt;
import org.junit.jupiter.api.Test;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.HashMap;
import java.util.Map;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The SameDiff graph against memwall's double-precision reference GPT (autograd's test jar), value and gradient. */
class GptGraphTest {
    private static final int B = 2, T = 6, HEADS = 2;
    private static final GptConfig SMALL = new GptConfig(256, T, 8, HEADS, 2, 0f);

    @Test
    void benchmarkModelHasMemwallsParameterCount() {
        GptGraph g = GptGraph.create(GptConfig.benchmark(), 16, GptGraph.Gelu.TANH, 0);
        assertThat(g.parameterCount()).isEqualTo(4_902_912L); // BENCHMARKS.md's figure for memwall's Gpt
        assertThat(g.parameters().keySet()).startsWith("tok.weight", "pos.weight", "blocks.0.ln1.weight")
                .endsWith("lnf.weight", "lnf.bias", "head.weight");
    }

    @Test
    void lossAndGradientsMatchTheDoublePrecisionReference() {
        GptGraph g = GptGraph.create(SMALL, B, GptGraph.Gelu.TANH, 7);
        Map<String, double[]> ref = randomizedReferenceWeights(g, new Random(3));
        int[][] ids = new int[B][T], targets = new int[B][T];
        Random r = new Random(5);
        int[] flatIds = new int[B * T], flatTargets = new int[B * T];
        for (int b = 0; b < B; b++) {
            for (int t = 0; t < T; t++) {
                flatIds[b * T + t] = ids[b][t] = r.nextInt(256);
                flatTargets[b * T + t] = targets[b][t] = r.nextInt(256);
            }
        }
        Map<String, INDArray> ph = Map.of(GptGraph.IDS, Nd4j.createFromArray(flatIds), GptGraph.TARGETS, Nd4j.createFromArray(flatTargets));
        SameDiff sd = g.sameDiff();
        double loss = sd.output(ph, GptGraph.LOSS).get(GptGraph.LOSS).getDouble(0);
        ReferenceGpt gpt = new ReferenceGpt(ref, HEADS);
        assertThat(loss).isCloseTo(gpt.meanLoss(ids, targets), org.assertj.core.data.Offset.offset(1e-4));

        Map<String, INDArray> grads = sd.calculateGradients(ph, g.parameters().keySet());
        // Every parameter tensor: the gradient at three random elements against central differences in double precision.
        for (String name : g.parameters().keySet()) {
            double[] w = ref.get(name);
            INDArray grad = grads.get(name);
            boolean transposed = isLinearWeight(name);
            double scale = grad.norm2Number().doubleValue() / Math.sqrt(grad.length()) + 1e-3; // typical entry size
            for (int k = 0; k < 3; k++) {
                int i = r.nextInt(w.length);
                double h = 1e-4, saved = w[i];
                w[i] = saved + h;
                double up = gpt.meanLoss(ids, targets);
                w[i] = saved - h;
                double down = gpt.meanLoss(ids, targets);
                w[i] = saved;
                double fd = (up - down) / (2 * h);
                double got = transposed ? grad.getDouble(i % grad.size(0), i / grad.size(0)) : grad.getDouble(i);
                assertThat(got).as("d loss / d %s[%d]", name, i).isCloseTo(fd, org.assertj.core.data.Offset.offset(2e-3 * scale + 1e-6));
            }
        }
    }

    @Test
    void nd4jsGeluOpsAreNotTheTanhForm() {
        // Why the graph composes the tanh GELU: ND4J's preciseGelu (documented as the tanh form) and gelu (x·σ(1.702x))
        // both differ from it. If preciseGelu starts matching, the graph can use it.
        SameDiff sd = SameDiff.create();
        float[] xs = {-2f, -1f, 0.5f, 1.5f};
        SDVariable x = sd.constant(Nd4j.createFromArray(xs));
        float[] precise = sd.nn.preciseGelu(x).eval().toFloatVector(), sigmoid = sd.nn.gelu(x).eval().toFloatVector();
        assertThat(Math.abs(precise[0] - ReferenceGpt.geluTanh(-2))).isGreaterThan(0.03);
        for (int i = 0; i < xs.length; i++) {
            assertThat((double) sigmoid[i]).isCloseTo(xs[i] / (1 + Math.exp(-1.702 * xs[i])), org.assertj.core.data.Offset.offset(1e-5));
        }
    }

    @Test
    void sigmoidGeluGraphDiffersFromTheTanhGraph() {
        // --gelu sigmoid changes the model (slightly): the same weights give another loss
        Map<String, INDArray> ph = Map.of(GptGraph.IDS, Nd4j.createFromArray(new int[B * T]), GptGraph.TARGETS, Nd4j.createFromArray(new int[B * T]));
        double tanh = GptGraph.create(SMALL, B, GptGraph.Gelu.TANH, 1).sameDiff().output(ph, GptGraph.LOSS).get(GptGraph.LOSS).getDouble(0);
        double sigmoid = GptGraph.create(SMALL, B, GptGraph.Gelu.SIGMOID, 1).sameDiff().output(ph, GptGraph.LOSS).get(GptGraph.LOSS).getDouble(0);
        assertThat(sigmoid).isNotEqualTo(tanh);
        assertThat(Math.abs(sigmoid - tanh)).isLessThan(0.1);
    }

    @Test
    void gatherCannotBeDifferentiatedInThisNd4j() {
        // Why the token embedding is one-hot · table: if this starts passing, gather can replace it.
        SameDiff sd = SameDiff.create();
        SDVariable table = sd.var("table", Nd4j.rand(DataType.FLOAT, 8, 4));
        sd.sum(sd.gather(table, sd.constant(Nd4j.createFromArray(1, 2, 3)), 0)).markAsLoss();
        assertThatThrownBy(() -> sd.calculateGradients(Map.of(), "table")).hasMessageContaining("assign");
    }

    @Test
    void sparseCrossEntropyHasAWrongGradientInThisNd4j() {
        // Why the loss takes one-hot labels: the sparse form agrees in value but not in gradient. If this starts
        // failing, the graph can use the sparse form.
        INDArray logits = Nd4j.rand(DataType.FLOAT, 4, 8).subi(0.5).muli(4);
        INDArray labels = Nd4j.createFromArray(1, 7, 3, 0);
        SameDiff sparse = SameDiff.create();
        SDVariable x = sparse.var("x", logits.dup());
        sparse.mean("loss", sparse.loss.sparseSoftmaxCrossEntropy(x, sparse.constant(labels))).markAsLoss();
        SameDiff dense = SameDiff.create();
        SDVariable y = dense.var("x", logits.dup());
        dense.loss.softmaxCrossEntropy("loss", dense.oneHot(dense.constant(labels), 8, -1, 1.0, 0.0, DataType.FLOAT), y, null,
                org.nd4j.autodiff.loss.LossReduce.MEAN_BY_NONZERO_WEIGHT_COUNT, 0.0).markAsLoss();
        assertThat(sparse.output(Map.of(), "loss").get("loss").getDouble(0))
                .isCloseTo(dense.output(Map.of(), "loss").get("loss").getDouble(0), org.assertj.core.data.Offset.offset(1e-5));
        INDArray gSparse = sparse.calculateGradients(Map.of(), "x").get("x"), gDense = dense.calculateGradients(Map.of(), "x").get("x");
        // the one-hot form's gradient is (softmax - onehot) / rows, the textbook one
        INDArray expected = Nd4j.nn().softmax(logits, 1).sub(Nd4j.createFromArray(new float[][]{
                {0, 1, 0, 0, 0, 0, 0, 0}, {0, 0, 0, 0, 0, 0, 0, 1}, {0, 0, 0, 1, 0, 0, 0, 0}, {1, 0, 0, 0, 0, 0, 0, 0}})).div(4);
        assertThat(gDense.equalsWithEps(expected, 1e-5)).isTrue();
        assertThat(gSparse.equalsWithEps(expected, 1e-3)).isFalse();
    }

    @Test
    void dropoutIsRefused() {
        assertThatThrownBy(() -> GptGraph.create(new GptConfig(256, 4, 8, 2, 1, 0.1f), 1, GptGraph.Gelu.TANH, 0))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("dropout");
    }

    /** Random values (biases and layer-norm gains too, so every term shows) set in both models, memwall layout in the map. */
    private static Map<String, double[]> randomizedReferenceWeights(GptGraph g, Random r) {
        Map<String, double[]> ref = new HashMap<>();
        for (Map.Entry<String, SDVariable> e : g.parameters().entrySet()) {
            INDArray arr = e.getValue().getArr();
            float[] f = new float[(int) arr.length()];
            double std = e.getKey().endsWith(".weight") && arr.rank() == 2 ? 1 / Math.sqrt(arr.size(0)) : 0.3;
            for (int i = 0; i < f.length; i++) f[i] = (float) (r.nextGaussian() * std + (e.getKey().matches(".*ln.*weight") ? 1 : 0));
            if (e.getKey().startsWith("tok") || e.getKey().startsWith("pos")) for (int i = 0; i < f.length; i++) f[i] *= 3;
            INDArray value = Nd4j.create(f, arr.shape(), 'c');
            e.getValue().setArray(value);
            // memwall stores linear weights [out, in]; the graph [in, out]
            INDArray memwallLayout = isLinearWeight(e.getKey()) ? value.transpose().dup('c') : value;
            double[] d = new double[f.length];
            float[] m = memwallLayout.data().asFloat();
            for (int i = 0; i < d.length; i++) d[i] = m[i];
            ref.put(e.getKey(), d);
        }
        return ref;
    }

    private static boolean isLinearWeight(String name) {
        return name.endsWith(".weight") && (name.contains("qkv") || name.contains("proj") || name.contains("fc") || name.contains("out")
                || name.equals("head.weight"));
    }
}
