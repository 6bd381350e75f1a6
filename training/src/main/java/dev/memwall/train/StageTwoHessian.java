package dev.memwall.train;

import dev.memwall.autograd.DType;
import dev.memwall.autograd.Tensor;
import dev.memwall.memory.Category;
import dev.memwall.nn.FlatParameters;
import dev.memwall.optim.AdaHessian;
import dev.memwall.optim.SecondOrder;

import java.util.List;

/**
 * A second-order step at ZeRO stage 2. Stage 2 has no flat gradient buffer: each gradient goes to a bucket through a
 * gradient-ready hook during backward. A step that recomputes the Hessian estimate needs what hooks cannot give —
 * each parameter's {@code .grad()} carrying the gradient's graph (createGraph), or a place for the region-by-region
 * path to add g into — so for that step only:
 * <ol>
 *   <li>{@link #begin}: the hooks come off and the parameters get views of one transient flat buffer of L floats
 *       (GRADIENT, as stages 0 and 1 keep between steps), so the micro-batches run exactly as at stage 0 (the fused
 *       forward-over-reverse pass by default, or a createGraph backward and {@link SecondOrder#accumulateHessian}, or
 *       the region path), whatever computes the products;</li>
 *   <li>{@link #reduce}: g is reduce-scattered bucket by bucket, in the layout and order of a backward's buckets, into
 *       this rank's gradient shard (the sums a backward's buckets would make, bitwise); the full-length z ⊙ Hz sums
 *       likewise, in place, so each rank holds the global sums of the elements it owns — all AdaHessian reads when its
 *       estimate is per element (block length 1). With blocks along rows a block may straddle two ranks' pieces, so
 *       then the sums are all-reduced instead (every rank the whole sum, as at stages 0 and 1);</li>
 *   <li>the flat buffer is released and the hooks put back: between steps a rank keeps its 4Ψ/N gradient shard and
 *       AdaHessian's three state vectors over its pieces, 12Ψ/N, as AdamW's two are 8Ψ/N.</li>
 * </ol>
 * A step that reuses the estimate ({@code updateEach} &gt; 1) needs no products and is a plain stage-2 step (buckets
 * reduced during backward). The Rademacher z is a function of (seed, draw, flat index), so every rank uses the same z.
 */
final class StageTwoHessian {
    private final DataParallel dp;
    private final GradientBuckets buckets;
    private final List<Tensor> parameters;
    private final Tensor flat;

    private StageTwoHessian(DataParallel dp, GradientBuckets buckets, List<Tensor> parameters, Tensor flat) {
        this.dp = dp;
        this.buckets = buckets;
        this.parameters = parameters;
        this.flat = flat;
    }

    /** Detaches the bucket hooks and gives {@code parameters} (flat-layout order) views of a transient flat gradient. */
    static StageTwoHessian begin(DataParallel dp, List<Tensor> parameters) {
        GradientBuckets buckets = dp.buckets();
        if (buckets == null) throw new IllegalStateException(dp.stage() + " has no gradient buckets");
        FlatParameters layout = dp.params();
        if (parameters.size() != layout.entries().size()) {
            throw new IllegalArgumentException(parameters.size() + " parameters given, the flat layout has " + layout.entries().size());
        }
        buckets.detachHooks(true);
        Tensor flat = Tensor.empty(DType.FP32, Category.GRADIENT, "hessian_step_grads", layout.length());
        for (int k = 0; k < parameters.size(); k++) {
            FlatParameters.Entry e = layout.entries().get(k);
            parameters.get(k).grad(Tensor.view(flat, e.offset(), e.shape()));
        }
        return new StageTwoHessian(dp, buckets, parameters, flat);
    }

    /**
     * After the step's last micro-batch: reduces g into the shard and the products' sums over ranks (see the class
     * comment), then {@link #close}s.
     */
    void reduce(SecondOrder second) {
        try {
            buckets.reduceScatterWhole(flat.data(), buckets.shardGradients(), false);
            float[] sums = second.hessianSums();
            if (sums == null) throw new IllegalStateException("a Hessian step at ZeRO stage 2 took no Hessian-vector products");
            if (perElement(second)) buckets.reduceScatterWhole(sums, null, true);
            else dp.sumOverRanks(sums);
        } finally {
            close();
        }
    }

    /** Whether the estimate of an element reads only that element's sum (so this rank's pieces are enough). */
    static boolean perElement(SecondOrder second) {
        return second instanceof AdaHessian a && a.config().blockLength() == 1;
    }

    /** Drops the parameters' views (and any graph on them), releases the flat buffer and puts the hooks back. */
    void close() {
        if (flat.isReleased()) return;
        for (Tensor p : parameters) p.grad(null);
        flat.release();
        buckets.detachHooks(false);
    }
}
