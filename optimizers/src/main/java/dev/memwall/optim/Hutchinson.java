package dev.memwall.optim;

import dev.memwall.autograd.Engine;
import dev.memwall.autograd.Scope;
import dev.memwall.autograd.Tensor;
import dev.memwall.kernels.Parallel;
import dev.memwall.nn.FlatParameters;
import dev.memwall.rng.Rng;

import java.util.ArrayList;
import java.util.List;

/**
 * Hutchinson's estimator of the Hessian diagonal, E[z ⊙ Hz] = diag(H) for Rademacher z, over a model's flat
 * parameter layout: the Rademacher vectors (a pure function of seed, draw and flat index, so every rank of a job draws
 * the same z without communicating, and a resumed run draws what the uninterrupted one would), the Hessian-vector
 * product from the graph a createGraph backward left in the parameters' {@code .grad()}, and AdaHessian's spatial
 * averaging of |z ⊙ Hz| over blocks along the last dimension of matrices.
 */
public final class Hutchinson {
    private Hutchinson() {
    }

    /**
     * Rademacher draw number {@code draw} over the first {@code count} flat elements (the parameters, Ψ — padding,
     * which depends on the world size, is left 0): element i is ±1 from bit 63 of {@code Rng.mix(seed, draw·count + i)}.
     */
    public static float[] rademacher(long seed, long draw, int count, int length) {
        float[] z = new float[length];
        long base = draw * count;
        // element i depends on i alone, so the split over the cores changes nothing
        Parallel.range(count, 4, (from, to) -> {
            for (int i = from; i < to; i++) z[i] = Rng.mix(seed, base + i) < 0 ? -1f : 1f;
        });
        return z;
    }

    /**
     * Adds {@code weight · z ⊙ (H z)} into {@code sums} (flat layout), H the Hessian of whatever the last createGraph
     * backward differentiated. {@code retainGraph} keeps the gradient's graph for another draw.
     */
    public static void accumulate(FlatParameters layout, List<Tensor> parameters, float[] z, double weight,
                                  boolean retainGraph, float[] sums) {
        float[] hz = hessianVectorProduct(layout, parameters, z, retainGraph);
        for (int i = 0; i < layout.count(); i++) sums[i] += (float) (weight * z[i] * hz[i]);
    }

    /**
     * H·v over the flat layout: ∂(Σ_k ⟨g_k, v_k⟩)/∂θ with g_k each parameter's {@code .grad()} as the last createGraph
     * backward left it (v held constant). A gradient without a graph (constant in θ) contributes nothing.
     */
    public static float[] hessianVectorProduct(FlatParameters layout, List<Tensor> parameters, float[] v, boolean retainGraph) {
        checkLayout(layout, parameters);
        if (v.length != layout.length()) throw new IllegalArgumentException("v has " + v.length + " elements, the flat buffer " + layout.length());
        float[] out = new float[layout.length()];
        List<Tensor> outputs = new ArrayList<>(), directions = new ArrayList<>();
        try (Scope scope = Scope.open()) {
            for (int k = 0; k < parameters.size(); k++) {
                Tensor g = parameters.get(k).grad();
                if (g == null || g.gradFn() == null) continue;
                FlatParameters.Entry e = layout.entries().get(k);
                Tensor vk = Tensor.empty("hvp.direction", e.shape());
                System.arraycopy(v, e.offset(), vk.data(), vk.offset(), e.numel());
                outputs.add(g);
                directions.add(vk);
            }
            if (outputs.isEmpty()) {
                throw new IllegalStateException("no parameter's .grad() carries a graph: run the backward with createGraph "
                        + "before asking for Hessian-vector products");
            }
            Tensor[] hv = Engine.grad(outputs.toArray(new Tensor[0]), parameters.toArray(new Tensor[0]),
                    directions.toArray(new Tensor[0]), false, retainGraph, true);
            for (int k = 0; k < parameters.size(); k++) {
                if (hv[k] == null) continue;
                FlatParameters.Entry e = layout.entries().get(k);
                System.arraycopy(hv[k].data(), hv[k].offset(), out, e.offset(), e.numel());
            }
        }
        return out;
    }

    private static void checkLayout(FlatParameters layout, List<Tensor> parameters) {
        if (parameters.size() != layout.entries().size()) {
            throw new IllegalArgumentException(parameters.size() + " parameters given, the flat layout has "
                    + layout.entries().size());
        }
        for (int k = 0; k < parameters.size(); k++) {
            Tensor p = parameters.get(k);
            FlatParameters.Entry e = layout.entries().get(k);
            if (p.data() != layout.values().whole().data() || p.offset() != e.offset() || p.numel() != e.numel()) {
                throw new IllegalArgumentException("parameter " + k + " is not " + e.name() + " of the flat buffer at offset "
                        + e.offset() + " (pass the flattened model's parameters in order)");
            }
        }
    }

    /**
     * AdaHessian's diagonal D from the signed sums s = mean over draws of z ⊙ Hz, written for the elements of
     * {@code shard} into {@code out} (state layout): |s| for tensors of rank ≠ 2; for matrices the mean of |s| over
     * contiguous blocks of {@code blockLength} along the last dimension (a row's last block may be shorter and is
     * averaged over its own length), as the reference's transformer optimizer does. Blocks are read from the whole
     * flat {@code sums}, so a shard boundary inside a block changes nothing.
     */
    public static void diagonal(FlatParameters layout, float[] sums, int blockLength, Shard shard, float[] out) {
        int[] starts = shard.starts(), lengths = shard.lengths();
        int[] stateStart = new int[starts.length];
        for (int k = 1; k < starts.length; k++) stateStart[k] = stateStart[k - 1] + lengths[k - 1];
        for (int k = 0; k < starts.length; k++) {
            int lo = starts[k], hi = lo + lengths[k];
            for (FlatParameters.Entry e : layout.entries()) {
                int eLo = Math.max(lo, e.offset()), eHi = Math.min(hi, e.offset() + e.numel());
                if (eLo >= eHi) continue;
                int cols = e.shape().length == 2 && blockLength > 1 ? e.shape()[1] : 1;
                int block = cols == 1 ? 1 : blockLength;
                if (block == 1) {
                    // blocks of one: |s| (the mean of one |s| in double is |s| exactly)
                    int to = stateStart[k] - lo;
                    for (int i = eLo; i < eHi; i++) out[to + i] = Math.abs(sums[i]);
                    continue;
                }
                for (int i = eLo; i < eHi; ) {
                    int rel = i - e.offset(), col = rel % cols;
                    int bStart = i - (col % block), bLen = Math.min(block, cols - (col - col % block));
                    double sum = 0;
                    for (int j = bStart; j < bStart + bLen; j++) sum += Math.abs(sums[j]);
                    float d = (float) (sum / bLen);
                    int bEnd = Math.min(bStart + bLen, eHi);
                    for (; i < bEnd; i++) out[stateStart[k] + i - lo] = d;
                }
            }
        }
    }
}
