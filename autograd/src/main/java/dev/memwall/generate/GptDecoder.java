package dev.memwall.generate;

import dev.memwall.autograd.GradMode;
import dev.memwall.autograd.Guard;
import dev.memwall.autograd.OpStats;
import dev.memwall.autograd.Tensor;
import dev.memwall.kernels.Gemm;
import dev.memwall.kernels.Softmax;
import dev.memwall.nn.Gpt;
import dev.memwall.nn.GptConfig;
import dev.memwall.nn.LayerNorm;
import dev.memwall.ops.Costs;
import dev.memwall.ops.F;

import java.util.Map;

/**
 * Runs a {@link Gpt} for generation (batch 1, no gradients, no dropout) with a {@link KvCache}. The two phases are
 * separate calls because they are different workloads: {@link #prefill} pushes the whole prompt through every layer
 * at once (GEMMs with T rows, compute-bound), {@link #decode} one token (GEMMs with one row: each step reads every
 * weight and the cache once, memory-bound).
 *
 * <p>The arithmetic is the model's forward (pre-LN blocks, tanh GELU, LayerNorm eps 1e-5) on the same kernels (GEMM,
 * LayerNorm, GELU, softmax), reading the parameters by their PyTorch names, so a flattened or loaded model works as
 * is. Attention of new positions against the cache is a batched GEMM over heads straight from the cache buffers.
 * Every tensor this class allocates besides the cache and the returned logits is released before a call returns.
 *
 * <p>Under {@link OpStats} (memwall profile --generate) every step is counted: the Linear, LayerNorm, GELU and add ops
 * count themselves; the kernels called here directly record as {@code embedding}, {@code split_heads} (q out, K and V
 * into the cache), {@code matmul} (q·Kᵀ and P·V, reading the cached keys and values), {@code causal_softmax} and
 * {@code merge_heads}, with the counts of {@link Costs}.
 */
public final class GptDecoder implements AutoCloseable {
    private final GptConfig config;
    private final Gpt model;
    /** The parameters by name; for a model that holds them only inside their unit's window, looked up inside it. */
    private Map<String, Tensor> p;
    private final KvCache cache;

    /**
     * Allocates the cache (KV_CACHE bytes) for {@code model}'s full context; {@link #close()} releases it. A model
     * sharded at ZeRO stage 3 works too: each call gathers every unit in turn ({@link Gpt#withUnit}), so every rank
     * must make the same calls (with {@link Generator}: the same prompt length and token count).
     */
    public GptDecoder(Gpt model) {
        this.config = model.config();
        this.model = model;
        this.p = model.namedParameters();
        this.cache = new KvCache(config.layers(), config.heads(), config.context(), config.headDim());
    }

    /** Runs {@code body} with unit u's parameters present and {@link #p} naming them. */
    private Tensor inUnit(int u, java.util.function.Supplier<Tensor> body) {
        if (!model.unitsGathered()) return body.get();
        return model.withUnit(u, () -> {
            p = model.namedParameters(); // the gathered views, valid until the window closes
            return body.get();
        });
    }

    public KvCache cache() {
        return cache;
    }

    /** Positions held in the cache. */
    public int length() {
        return cache.length();
    }

    /**
     * Empties the cache and runs {@code ids} (1 to context tokens) at positions 0, 1, …: logits [T, V], row i
     * predicting the token after ids[i]. The caller releases the result.
     */
    public Tensor prefill(int[] ids) {
        if (ids.length == 0 || ids.length > config.context()) {
            throw new IllegalArgumentException("prefill takes 1 to " + config.context() + " tokens, got " + ids.length);
        }
        cache.clear();
        return run(ids);
    }

    /** Runs one token at the next position: logits [1, V]. The cache must not be full. */
    public Tensor decode(int id) {
        if (cache.length() >= config.context()) {
            throw new IllegalStateException("the KV cache is full (" + config.context() + " positions); prefill a shorter window");
        }
        return run(new int[]{id});
    }

    /** Tokens {@code ids} at positions [length, length + T): writes their K and V into the cache, returns logits. */
    private Tensor run(int[] ids) {
        try (Guard g = GradMode.noGrad()) {
            int start = cache.length();
            Tensor x = inUnit(0, () -> embed(ids, start));
            for (int l = 0; l < config.layers(); l++) {
                int layer = l;
                Tensor in = x;
                Tensor next = inUnit(l + 1, () -> block(layer, in, start));
                x.release();
                x = next;
            }
            cache.advance(ids.length);
            Tensor last = x;
            Tensor logits = inUnit(config.layers() + 1, () -> {
                Tensor h = F.layerNorm(last, p.get("lnf.weight"), p.get("lnf.bias"), LayerNorm.EPS);
                Tensor y = F.linear(h, p.get("head.weight"), null);
                h.release();
                return y;
            });
            x.release();
            return logits;
        }
    }

    /** tok[id] + pos[start + i] for each token: [T, D]. */
    private Tensor embed(int[] ids, int start) {
        int d = config.dim();
        Tensor tok = p.get("tok.weight"), pos = p.get("pos.weight");
        OpStats.Frame frame = OpStats.begin("embedding");
        Tensor x = Tensor.empty("decode_embed", ids.length, d);
        float[] xd = x.data(), td = tok.data(), pd = pos.data();
        for (int i = 0; i < ids.length; i++) {
            if (ids[i] < 0 || ids[i] >= config.vocab()) throw new IllegalArgumentException("token " + ids[i] + " is outside the vocabulary of " + config.vocab());
            int to = tok.offset() + ids[i] * d, po = pos.offset() + (start + i) * d;
            for (int j = 0; j < d; j++) xd[i * d + j] = td[to + j] + pd[po + j];
        }
        if (frame != null) frame.end(Costs.embedFlops(ids.length, d), Costs.embedBytes(ids.length, d));
        return x;
    }

    /** One pre-LN block on x [T, D]: x + attn(ln1(x)), then + mlp(ln2(·)). Does not release x. */
    private Tensor block(int l, Tensor x, int start) {
        String b = "blocks." + l + ".";
        Tensor h = F.layerNorm(x, p.get(b + "ln1.weight"), p.get(b + "ln1.bias"), LayerNorm.EPS);
        Tensor qkv = F.linear(h, p.get(b + "qkv.weight"), p.get(b + "qkv.bias"));
        h.release();
        Tensor mixed = attend(l, qkv, start);
        qkv.release();
        Tensor a = F.linear(mixed, p.get(b + "proj.weight"), p.get(b + "proj.bias"));
        mixed.release();
        Tensor x1 = x.add(a);
        a.release();
        Tensor h2 = F.layerNorm(x1, p.get(b + "ln2.weight"), p.get(b + "ln2.bias"), LayerNorm.EPS);
        Tensor f = F.linear(h2, p.get(b + "fc.weight"), p.get(b + "fc.bias"));
        h2.release();
        Tensor act = F.gelu(f);
        f.release();
        Tensor o = F.linear(act, p.get(b + "out.weight"), p.get(b + "out.bias"));
        act.release();
        Tensor x2 = x1.add(o);
        x1.release();
        o.release();
        return x2;
    }

    /**
     * Causal attention of T new positions (qkv [T, 3D], channels q | k | v, head h at [h·hd, (h+1)·hd) of each) over
     * the cache: appends their K and V to layer l's cache, then per head scores = q·Kᵀ over positions [0, start + T),
     * row i masked beyond start + i, softmax, times V. Returns the heads merged: [T, D].
     */
    private Tensor attend(int l, Tensor qkv, int start) {
        int t = qkv.size(0), d = config.dim(), heads = config.heads(), hd = config.headDim(), n = start + t;
        int ctx = config.context();
        float[] src = qkv.data();
        float[] kc = cache.keys(l).data(), vc = cache.values(l).data();
        OpStats.Frame frame = OpStats.begin("split_heads");
        Tensor q = Tensor.empty("decode_q", heads, t, hd);
        float[] qd = q.data();
        for (int i = 0; i < t; i++) {
            int row = i * 3 * d;
            for (int hh = 0; hh < heads; hh++) {
                System.arraycopy(src, row + hh * hd, qd, (hh * t + i) * hd, hd);
                System.arraycopy(src, row + d + hh * hd, kc, cache.at(hh, start + i), hd);
                System.arraycopy(src, row + 2 * d + hh * hd, vc, cache.at(hh, start + i), hd);
            }
        }
        if (frame != null) frame.end(0, Costs.splitHeadsBytes(t, d));
        float scale = (float) (1.0 / Math.sqrt(hd));
        frame = OpStats.begin("matmul");
        Tensor scores = Tensor.empty("decode_scores", heads, t, n);
        float[] sd = scores.data();
        Gemm.sgemmBatched(heads, false, true, t, n, hd, scale, qd, 0, t * hd, kc, 0, ctx * hd, 0f, sd, 0, t * n);
        if (frame != null) frame.end(Costs.cachedGemmFlops(heads, t, n, hd), Costs.cachedGemmBytes(heads, t, n, hd));
        q.release();
        frame = OpStats.begin("causal_softmax");
        for (int r = 0; r < heads * t; r++) { // row r is head r / t, new position r % t: it sees start + r % t + 1 keys
            int seen = start + r % t + 1, off = r * n;
            Softmax.forward(sd, off, sd, off, 1, seen);
            java.util.Arrays.fill(sd, off + seen, off + n, 0f);
        }
        if (frame != null) frame.end(Costs.cachedSoftmaxFlops(heads, t, start), Costs.cachedSoftmaxBytes(heads, t, start));
        frame = OpStats.begin("matmul");
        Tensor y = Tensor.empty("decode_attn", heads, t, hd);
        Gemm.sgemmBatched(heads, false, false, t, hd, n, 1f, sd, 0, t * n, vc, 0, ctx * hd, 0f, y.data(), 0, t * hd);
        if (frame != null) frame.end(Costs.cachedGemmFlops(heads, t, n, hd), Costs.cachedGemmBytes(heads, t, n, hd));
        scores.release();
        frame = OpStats.begin("merge_heads");
        Tensor merged = Tensor.empty("decode_merge", t, d);
        float[] yd = y.data(), md = merged.data();
        for (int hh = 0; hh < heads; hh++) {
            for (int i = 0; i < t; i++) System.arraycopy(yd, (hh * t + i) * hd, md, i * d + hh * hd, hd);
        }
        y.release();
        if (frame != null) frame.end(0, Costs.mergeHeadsBytes(t, d));
        return merged;
    }

    @Override
    public void close() {
        cache.close();
    }
}
