package dev.memwall.nn;

import dev.memwall.autograd.CastPolicy;
import dev.memwall.autograd.Recompute;
import dev.memwall.autograd.Tensor;
import dev.memwall.ops.F;
import dev.memwall.ops.FusedAttention;
import dev.memwall.rng.Rng;

/**
 * Multi-head causal self-attention. {@code qkv} produces [B, T, 3D]: channels [0, D) are q, [D, 2D) k, [2D, 3D) v,
 * and head h uses channels [h·D/H, (h+1)·D/H) of each — PyTorch's layout, so weights load by name.
 *
 * <p>Two implementations of the attention between the projections, chosen per call by the system property
 * {@value #PROPERTY} ({@code fused}, the default, or {@code composed}):
 * <ul>
 * <li><b>fused</b> ({@link FusedAttention}): head by head straight from the qkv output to the merged heads, with the
 * scale and the causal mask fused into the softmax and one [B, T, 3D] gradient written in backward. Saved for
 * backward: the qkv input, the qkv output (3·B·T·D floats), the probabilities [B, H, T, T] and the proj input.
 * <li><b>composed</b>: slice and permute q, k and v into head layout, q·kᵀ, causal softmax, dropout, P·v, merge the
 * heads: every step its own op. Saved: the qkv input, q, k and v (3·B·T·D floats), the probabilities (once, though
 * two ops read them) and the proj input — the same bytes as fused. It is the oracle the fused ops are tested against,
 * and it runs whenever attention dropout is active (training with p &gt; 0), which the fused ops do not implement.
 * </ul>
 * Under selective recomputation either keeps only the qkv output (as q, k, v or whole) and recomputes the
 * probabilities and the mixed heads in backward (see {@link #mix}). Second derivatives (createGraph) are exact on both:
 * the fused node differentiates the composed ops.
 */
public final class CausalSelfAttention extends Module {
    /** System property that selects the implementation: {@code fused} (default) or {@code composed}. */
    public static final String PROPERTY = "memwall.attention";
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
     * output of the largest matmul, are kept (the fused path keeps the qkv output itself, the same bytes).
     */
    public Tensor mix(Tensor x) {
        int b = x.size(0), t = x.size(1), hd = dim / heads;
        Tensor all = qkv.forward(x);
        if (fused()) {
            // Under autocast both fused ops read qkv in the low format: cast once here (the ops' policy hands an
            // operand already in its format back as it is), not once per op; attend's node saves this copy.
            Tensor operand = CastPolicy.apply("causal_attention", 0, all);
            Tensor probs = Recompute.of(in -> FusedAttention.probs(in[0], heads), operand);
            Tensor flat = Recompute.of(in -> FusedAttention.attend(in[0], in[1], heads), operand, probs);
            if (operand != all) operand.release();
            all.release();
            probs.release();
            return flat;
        }
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

    /** Whether this call runs the fused ops: selected (the default) and no attention dropout to apply. */
    private boolean fused() {
        String mode = System.getProperty(PROPERTY, "fused");
        if (!mode.equals("fused") && !mode.equals("composed")) {
            throw new IllegalArgumentException("-D" + PROPERTY + " must be fused or composed, got '" + mode + "'");
        }
        return mode.equals("fused") && (attnDrop.p == 0f || !attnDrop.isTraining());
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
