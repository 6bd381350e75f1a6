package dev.memwall.rop;

import dev.memwall.autograd.Tensor;
import dev.memwall.kernels.EmbeddingKernel;

/**
 * Token plus learned position embeddings, x[b, t] = tok[ids[b, t]] + pos[t]: linear in the tables, so the tangent
 * is the same lookup in z's slices, the adjoints are scatter-adds of ȳ, and H·z of both tables is the same
 * scatter of ẏ̄ (no second-order term of their own).
 */
final class EmbeddingRop {
    private EmbeddingRop() {
    }

    static Dual forward(Param tok, Param pos, Tensor ids, int batch, int t, int d) {
        int rows = batch * t, vocab = tok.value().size(0);
        Dual x = Dual.zeros("embedding", batch, t, d);
        EmbeddingKernel.gather(tok.w(), tok.wo(), vocab, d, ids.intData(), ids.offset(), rows, x.va(), x.vo());
        EmbeddingKernel.gather(tok.z(), tok.zOffset(), vocab, d, ids.intData(), ids.offset(), rows, x.ta(), x.to());
        addPositions(x.va(), x.vo(), pos.w(), pos.wo(), batch, t, d);
        addPositions(x.ta(), x.to(), pos.z(), pos.zOffset(), batch, t, d);
        return x;
    }

    static void backward(Dual xbar, Param tok, Param pos, Tensor ids, int batch, int t, int d, Products sink) {
        int rows = batch * t;
        if (sink.addGradient()) {
            EmbeddingKernel.scatterAdd(xbar.va(), xbar.vo(), ids.intData(), ids.offset(), rows, d, tok.grad().data(), tok.grad().offset());
            sumPositions(xbar.va(), xbar.vo(), batch, t, d, pos.grad().data(), pos.grad().offset());
        }
        Tensor ht = Products.hzFor(tok);
        EmbeddingKernel.scatterAdd(xbar.ta(), xbar.to(), ids.intData(), ids.offset(), rows, d, ht.data(), ht.offset());
        sink.emit(tok, ht);
        Tensor hp = Products.hzFor(pos);
        sumPositions(xbar.ta(), xbar.to(), batch, t, d, hp.data(), hp.offset());
        sink.emit(pos, hp);
    }

    private static void addPositions(float[] x, int xo, float[] table, int to, int batch, int t, int d) {
        dev.memwall.kernels.Parallel.range(batch, (long) t * d, (b0, b1) -> {
            for (int b = b0; b < b1; b++) {
                for (int i = 0; i < t * d; i++) x[xo + b * t * d + i] += table[to + i];
            }
        });
    }

    /** out[p] += Σ_b g[b, p]: the positions' rows (only the first t of the table are used). */
    private static void sumPositions(float[] g, int go, int batch, int t, int d, float[] out, int oo) {
        dev.memwall.kernels.Parallel.range(t * d, batch, (i0, i1) -> {
            for (int b = 0; b < batch; b++) {
                for (int i = i0; i < i1; i++) out[oo + i] += g[go + b * t * d + i];
            }
        });
    }
}
