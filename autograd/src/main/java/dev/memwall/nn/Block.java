package dev.memwall.nn;

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

    public Block(GptConfig c, Rng rng, Rng dropout) {
        this.ln1 = child("ln1", new LayerNorm(c.dim()));
        this.attn = inline(new CausalSelfAttention(c.dim(), c.heads(), c.dropout(), rng, dropout));
        this.ln2 = child("ln2", new LayerNorm(c.dim()));
        this.mlp = inline(new Mlp(c.dim(), c.dropout(), rng, dropout));
    }

    /** Does not release {@code x}: the caller owns it. */
    public Tensor forward(Tensor x) {
        Tensor h = ln1.forward(x);
        Tensor a = attn.forward(h);
        Tensor x1 = x.add(a);
        h.release();
        a.release();
        Tensor h2 = ln2.forward(x1);
        Tensor m = mlp.forward(h2);
        Tensor x2 = x1.add(m);
        x1.release();
        h2.release();
        m.release();
        return x2;
    }
}
