package dev.memwall.nn;

import dev.memwall.autograd.Recompute;
import dev.memwall.autograd.Tensor;
import dev.memwall.ops.F;
import dev.memwall.rng.Rng;

/**
 * Multi-head causal self-attention. {@code qkv} produces [B, T, 3D]: channels [0, D) are q, [D, 2D) k, [2D, 3D) v,
 * and head h uses channels [h·D/H, (h+1)·D/H) of each — PyTorch's layout, so weights load by name.
 *
 * <p>Saved for backward: the qkv input, q, k and v in head layout, the attention probabilities (once, though two
 * ops read them) and the proj input. Under selective recomputation only q, k and v are kept (see {@link #mix}).
 */
public final class CausalSelfAttention extends Module {
    private final int dim, heads;
    private final Linear qkv, proj;
    private final Dropout attnDrop, residDrop;

    public CausalSelfAttention(int dim, int heads, float dropout, Rng rng, Rng dropoutRng) {
        this.dim = dim;
        this.heads = heads;
        this.qkv = child("qkv", new Linear(dim, 3 * dim, true, rng));
        this.proj = child("proj", new Linear(dim, dim, true, rng));
        this.attnDrop = child("attn_drop", new Dropout(dropout, dropoutRng));
        this.residDrop = child("resid_drop", new Dropout(dropout, dropoutRng));
    }

    public Tensor forward(Tensor x) {
        Tensor mixed = mix(x);
        Tensor out = project(mixed);
        mixed.release();
        return out;
    }

    /**
     * The qkv projection and the attention itself: [B, T, D] before the output projection. The attention
     * probabilities and the mixed values are marked {@link Recompute#of recomputable}: they are large (the
     * probabilities are [B, H, T, T]) and cost two small matmuls and a softmax to recompute, while q, k and v, the
     * output of the largest matmul, are kept.
     */
    public Tensor mix(Tensor x) {
        int b = x.size(0), t = x.size(1), hd = dim / heads;
        Tensor all = qkv.forward(x);
        Tensor q = heads(all, 0, b, t, hd), k = heads(all, 1, b, t, hd), v = heads(all, 2, b, t, hd);
        all.release();
        float scale = (float) (1.0 / Math.sqrt(hd));
        Tensor probs = Recompute.of(in -> {
            Tensor scores = F.matmul(in[0], in[1], false, true); // [B, H, T, T]
            Tensor p = F.causalSoftmax(scores, scale);
            scores.release();
            return p;
        }, q, k);
        Tensor dropped = Recompute.of(in -> attnDrop.forward(in[0]), probs);
        Tensor flat = Recompute.of(in -> {
            Tensor y = F.matmul(in[0], in[1], false, false); // [B, H, T, hd]
            Tensor merged = F.permute(y, 0, 2, 1, 3);
            Tensor r = merged.reshape(b, t, dim);
            y.release();
            merged.release();
            return r;
        }, dropped, v);
        for (Tensor tmp : new Tensor[]{q, k, v, probs, dropped}) tmp.release();
        return flat;
    }

    /** The output projection (and its dropout) of {@link #mix}'s result. */
    public Tensor project(Tensor mixed) {
        Tensor projected = proj.forward(mixed);
        Tensor out = residDrop.forward(projected);
        projected.release();
        return out;
    }

    /** Slice {@code which} (0 = q, 1 = k, 2 = v) of [B, T, 3D] into head layout [B, H, T, hd]. */
    private Tensor heads(Tensor all, int which, int b, int t, int hd) {
        Tensor part = F.slice(all, 2, which * dim, (which + 1) * dim);
        Tensor split = part.reshape(b, t, heads, hd);
        Tensor r = F.permute(split, 0, 2, 1, 3);
        part.release();
        split.release();
        return r;
    }
}
