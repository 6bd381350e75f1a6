package dev.memwall.samediff;

import dev.memwall.nn.GptConfig;
import org.nd4j.autodiff.loss.LossReduce;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;

/**
 * memwall's benchmark GPT ({@code dev.memwall.nn.Gpt}) as a SameDiff graph: token and learned position embeddings,
 * pre-LayerNorm blocks ({@code x + attn(ln1(x))}, {@code x + mlp(ln2(x))}) with one qkv projection, causal softmax
 * attention and a 4× MLP with GELU, a final LayerNorm, an untied LM head without bias and the mean cross-entropy of
 * next-token prediction. Parameters carry memwall's names; linear weights are stored [in, out] as ND4J's
 * {@code xw_plus_b} reads them (memwall and PyTorch store [out, in]).
 *
 * <p>Placeholders: {@code ids} and {@code targets}, INT32 [batch · context] (row-major windows). The loss variable is {@link #LOSS}.
 */
public final class GptGraph {
    public static final String IDS = "ids", TARGETS = "targets", LOSS = "loss";

    /**
     * The GELU a graph uses: TANH is memwall's (and torch_gpt.py's) form, composed from element-wise ops; SIGMOID is
     * ND4J's fused {@code gelu} op, the approximation x·σ(1.702x) (SameDiff has no erf GELU).
     */
    public enum Gelu { TANH, SIGMOID }

    private final SameDiff sd = SameDiff.create();
    private final GptConfig config;
    private final int batch;
    private final Gelu gelu;
    private final Random init;
    private final Map<String, SDVariable> params = new LinkedHashMap<>();

    private GptGraph(GptConfig config, int batch, Gelu gelu, long seed) {
        if (config.dropout() != 0f) throw new IllegalArgumentException("the SameDiff GPT has no dropout: " + config);
        if (batch <= 0) throw new IllegalArgumentException("batch must be positive: " + batch);
        this.config = config;
        this.batch = batch;
        this.gelu = gelu;
        this.init = new Random(seed);
        build();
    }

    /** A fresh graph, initialised like memwall's Gpt (embeddings N(0, 1), weights N(0, 1/in), zero biases, unit gains). */
    public static GptGraph create(GptConfig config, int batch, Gelu gelu, long seed) {
        return new GptGraph(config, batch, gelu, seed);
    }

    public SameDiff sameDiff() {
        return sd;
    }

    /** Trainable parameters by memwall name, in memwall's order. */
    public Map<String, SDVariable> parameters() {
        return java.util.Collections.unmodifiableMap(params);
    }

    public long parameterCount() {
        long n = 0;
        for (SDVariable v : params.values()) n += v.getArr().length();
        return n;
    }

    /** FLOPs of one training step, counted as the project counts them: 6 · params · tokens + 12 · L · B · T² · D. */
    public double stepFlops() {
        double tokens = (double) batch * config.context();
        return 6.0 * parameterCount() * tokens + 12.0 * config.layers() * tokens * config.context() * config.dim();
    }

    private void build() {
        int v = config.vocab(), t = config.context(), d = config.dim(), n = batch * t;
        SDVariable ids = sd.placeHolder(IDS, DataType.INT32, n);
        SDVariable targets = sd.placeHolder(TARGETS, DataType.INT32, n);
        SDVariable tok = param("tok.weight", normal(1.0, v, d));
        SDVariable pos = param("pos.weight", normal(1.0, t, d));
        // The token lookup is one-hot(ids) · table: SameDiff 1.0.0-M2.1 cannot differentiate gather (its backward fails
        // a shape check in an "assign" op, GptGraphTest shows it). Same values and gradient; the extra GEMM is
        // 2·B·T·V·D FLOPs forward and again backward, under 1% of the step.
        SDVariable x = sd.mmul(sd.oneHot(ids, v, -1, 1.0, 0.0, DataType.FLOAT), tok).reshape(batch, t, d).add(pos).reshape(n, d);
        // Causal mask added to the scores: 0 on and below the diagonal, -1e9 above (exp gives exactly 0 in FP32).
        INDArray mask = Nd4j.zeros(DataType.FLOAT, t, t);
        for (int i = 0; i < t; i++) for (int j = i + 1; j < t; j++) mask.putScalar(i, j, -1e9);
        SDVariable causal = sd.constant("causal_mask", mask);
        for (int l = 0; l < config.layers(); l++) x = block("blocks." + l + ".", x, causal);
        SDVariable h = layerNorm("lnf.", x);
        SDVariable logits = sd.mmul(h, param("head.weight", normal(1.0 / d, d, v)));
        // Labels one-hot: SameDiff 1.0.0-M2.1's sparse cross-entropy has the right value but a wrong gradient
        // (GptGraphTest shows it).
        SDVariable oneHot = sd.oneHot(targets, v, -1, 1.0, 0.0, DataType.FLOAT);
        sd.loss.softmaxCrossEntropy(LOSS, oneHot, logits, null, LossReduce.MEAN_BY_NONZERO_WEIGHT_COUNT, 0.0).markAsLoss();
    }

    private SDVariable block(String p, SDVariable x, SDVariable causal) {
        int t = config.context(), d = config.dim(), heads = config.heads(), hd = config.headDim(), n = batch * t;
        SDVariable[] qkv = sd.split(linear(p + "qkv.", layerNorm(p + "ln1.", x), d, 3 * d), 3, 1);
        SDVariable q = heads(qkv[0]), k = heads(qkv[1]), v = heads(qkv[2]);
        SDVariable scores = sd.mmul(q, k, false, true, false).mul(1.0 / Math.sqrt(hd)).add(causal);
        SDVariable att = sd.nn.softmax(scores, 3);
        SDVariable y = sd.mmul(att, v).permute(0, 2, 1, 3).reshape(n, d);
        x = x.add(linear(p + "proj.", y, d, d));
        SDVariable fc = linear(p + "fc.", layerNorm(p + "ln2.", x), d, 4 * d);
        SDVariable act = gelu == Gelu.TANH ? geluTanh(fc) : sd.nn.gelu(fc);
        return x.add(linear(p + "out.", act, 4 * d, d));
    }

    /**
     * 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) composed from element-wise ops, as djl-gpt composes it: ND4J's
     * {@code preciseGelu}, which claims this form, returns other values in 1.0.0-M2.1 (-0.0789 at x = -2 instead of
     * -0.0454; GptGraphTest), and its {@code gelu} is the sigmoid approximation.
     */
    private SDVariable geluTanh(SDVariable x) {
        SDVariable inner = x.add(x.mul(x).mul(x).mul(0.044715)).mul(Math.sqrt(2 / Math.PI));
        return x.mul(0.5).mul(sd.math.tanh(inner).add(1.0));
    }

    /** [B·T, D] to [B, H, T, D/H]. */
    private SDVariable heads(SDVariable s) {
        return s.reshape(batch, config.context(), config.heads(), config.headDim()).permute(0, 2, 1, 3);
    }

    private SDVariable linear(String p, SDVariable x, int in, int out) {
        SDVariable w = param(p + "weight", normal(1.0 / in, in, out));
        SDVariable b = param(p + "bias", Nd4j.zeros(DataType.FLOAT, out));
        return sd.nn.linear(x, w, b);
    }

    /** Over the last axis, as memwall's LayerNorm (eps 1e-5): GptGraphTest holds the two to the same loss. */
    private SDVariable layerNorm(String p, SDVariable x) {
        SDVariable g = param(p + "weight", Nd4j.ones(DataType.FLOAT, config.dim()));
        SDVariable b = param(p + "bias", Nd4j.zeros(DataType.FLOAT, config.dim()));
        return sd.nn.layerNorm(x, g, b, false, 1);
    }

    private SDVariable param(String name, INDArray value) {
        SDVariable v = sd.var(name, value);
        params.put(name, v);
        return v;
    }

    private INDArray normal(double variance, int rows, int cols) {
        float std = (float) Math.sqrt(variance);
        float[] f = new float[rows * cols];
        for (int i = 0; i < f.length; i++) f[i] = (float) init.nextGaussian() * std;
        return Nd4j.create(f, new long[]{rows, cols}, 'c');
    }
}
