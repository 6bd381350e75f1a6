package dev.memwall.nn;

import dev.memwall.autograd.Recompute;
import dev.memwall.autograd.Tensor;
import dev.memwall.rng.Rng;

/**
 * Pre-LayerNorm Transformer block: x + attn(ln1(x)), then x + mlp(ln2(x)). Attention's and the MLP's linears are
 * named directly under the block ({@code qkv}, {@code proj}, {@code fc}, {@code out}), as in the PyTorch model.
 */
public final class Block extends Module {
    private final LayerNorm ln1, ln2;
    private final CausalSelfAttention attn;
    private final Mlp mlp;
    private java.util.function.Function<java.util.function.Supplier<Tensor>, Tensor> around;

    public Block(GptConfig c, Rng rng, Rng dropout) {
        this.ln1 = child("ln1", new LayerNorm(c.dim()));
        this.attn = inline(new CausalSelfAttention(c.dim(), c.heads(), c.dropout(), rng, dropout));
        this.ln2 = child("ln2", new LayerNorm(c.dim()));
        this.mlp = inline(new Mlp(c.dim(), c.dropout(), rng, dropout));
    }

    /**
     * Does not release {@code x}. The layer norms and the attention half's output are marked
     * {@link Recompute#of recomputable}: under selective recomputation a block keeps its input, q/k/v and fc's output,
     * and recomputes the rest (layer norms, attention probabilities, the output projection, the residual add, GELU).
     */
    public Tensor forward(Tensor x) {
        return around == null ? body(x) : around.apply(() -> body(x));
    }

    /**
     * Runs every {@link #forward} (also a checkpoint's recomputation) inside {@code a}: ZeRO stage 3 gathers the
     * block's parameters around it ({@link Gpt#unitHook}). Null removes it.
     */
    void around(java.util.function.Function<java.util.function.Supplier<Tensor>, Tensor> a) {
        around = a;
    }

    private Tensor body(Tensor x) {
        Tensor h = Recompute.of(in -> ln1.forward(in[0]), x);
        Tensor mixed = attn.mix(h);
        h.release();
        Tensor x1 = Recompute.of(in -> {
            Tensor a = attn.project(in[1]);
            Tensor r = in[0].add(a);
            a.release();
            return r;
        }, x, mixed);
        mixed.release();
        Tensor h2 = Recompute.of(in -> ln2.forward(in[0]), x1);
        Tensor m = mlp.forward(h2);
        Tensor x2 = x1.add(m);
        x1.release();
        h2.release();
        m.release();
        return x2;
    }

    /**
     * The attention half alone, x + attn(ln1(x)): the same ops as the first half of {@link #forward}, for callers that
     * cut the block in two (a Hessian-vector product region by region). Does not release {@code x}.
     */
    public Tensor attentionHalf(Tensor x) {
        Tensor h = ln1.forward(x);
        Tensor mixed = attn.mix(h);
        h.release();
        Tensor a = attn.project(mixed);
        mixed.release();
        Tensor r = x.add(a);
        a.release();
        return r;
    }

    /** The MLP half alone, x + mlp(ln2(x)): the second half of {@link #forward}. Does not release {@code x}. */
    public Tensor mlpHalf(Tensor x) {
        Tensor h = ln2.forward(x);
        Tensor m = mlp.forward(h);
        h.release();
        Tensor r = x.add(m);
        m.release();
        return r;
    }
}
