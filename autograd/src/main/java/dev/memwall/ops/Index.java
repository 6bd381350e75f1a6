package dev.memwall.ops;

import dev.memwall.autograd.DType;
import dev.memwall.autograd.Node;
import dev.memwall.autograd.OpStats;
import dev.memwall.autograd.Tensor;
import dev.memwall.kernels.EmbeddingKernel;

import java.util.Arrays;

/** Embedding lookup (row gather) and its adjoint (row scatter-add); each is the other's backward. */
final class Index {
    private Index() {
    }

    /** table [V, D] gathered at INT32 ids of any shape: result [..ids shape, D]. Saves the ids. */
    static Tensor embedding(Tensor table, Tensor ids) {
        Rel.requireFp32("embedding", table);
        if (table.dim() != 2) throw new IllegalArgumentException("embedding: table must be [V, D], got " + Arrays.toString(table.shape()));
        if (ids.dtype() != DType.INT32) throw new IllegalArgumentException("embedding: ids must be INT32, got " + ids.dtype());
        int vocab = table.shape()[0], d = table.shape()[1], rows = ids.numel();
        int[] outShape = Arrays.copyOf(ids.shape(), ids.dim() + 1);
        outShape[ids.dim()] = d;
        OpStats.Frame frame = OpStats.begin("embedding");
        Tensor out = Tensor.empty("embedding", outShape);
        EmbeddingKernel.gather(table.data(), table.offset(), vocab, d, ids.intData(), ids.offset(), rows, out.data(), 0);
        if (frame != null) frame.end(0, OpStats.bytes(ids) + 2 * OpStats.bytes(out)); // the gathered rows, read once
        if (!Node.shouldRecord(table)) return out;
        return new Node("embedding", table) {
            final int si = save(ids);

            @Override
            protected Tensor[] backward(Tensor g) {
                return new Tensor[]{scatterAddRows(g, saved(si), vocab)};
            }
        }.attach(out);
    }

    /** out [V, D] = sum over r of g[r] placed at row ids[r]. Saves the ids. */
    static Tensor scatterAddRows(Tensor g, Tensor ids, int vocab) {
        Rel.requireFp32("scatter_add", g);
        int d = g.shape()[g.dim() - 1], rows = ids.numel();
        if (g.numel() != rows * d) {
            throw new IllegalArgumentException("scatter_add: gradient " + Arrays.toString(g.shape()) + " does not match ids " + Arrays.toString(ids.shape()));
        }
        OpStats.Frame frame = OpStats.begin("scatter_add");
        Tensor out = Tensor.empty("scatter_add", vocab, d);
        EmbeddingKernel.scatterAdd(g.data(), g.offset(), ids.intData(), ids.offset(), rows, d, out.data(), 0);
        if (frame != null) frame.end(g.numel(), OpStats.bytes(g, ids, out));
        if (!Node.shouldRecord(g)) return out;
        int[] gs = g.shape();
        return new Node("scatter_add", g) {
            final int si = save(ids);

            @Override
            protected Tensor[] backward(Tensor gg) {
                Tensor e = embedding(gg, saved(si));
                Tensor r = Views.reshape(e, gs);
                e.release();
                return new Tensor[]{r};
            }
        }.attach(out);
    }
}
