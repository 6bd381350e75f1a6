package dev.memwall.train;

import dev.memwall.autograd.Tensor;
import dev.memwall.checkpoint.HvpByRegions;
import dev.memwall.checkpoint.Policy;
import dev.memwall.data.Batch;
import dev.memwall.nn.FlatParameters;
import dev.memwall.nn.Gpt;
import dev.memwall.optim.SecondOrder;

import java.util.List;

/**
 * A second-order micro-batch on a checkpointed model: the gradient and each draw's H·z taken region by region
 * ({@link HvpByRegions}), so only one region's second-order graph is alive at a time, instead of a createGraph backward
 * that keeps every recomputed region's graph for the product. The gradient goes into the flat buffer once (with the
 * first draw); every draw's products go to the optimizer.
 */
final class RegionHessian {
    private RegionHessian() {
    }

    /** Returns the micro-batch's (unscaled) loss; {@code scale} weighs its gradient and products, as in backward. */
    static float step(Gpt model, Policy policy, Batch b, float scale, FlatParameters layout, List<Tensor> parameters,
                      SecondOrder second) {
        List<float[]> directions = second.hessianDirections();
        float loss = Float.NaN;
        for (int s = 0; s < directions.size(); s++) {
            float[] z = directions.get(s);
            float l = HvpByRegions.run(model, policy, b.idsTensor(), b.targetsTensor(), scale, layout, parameters, z, s == 0,
                    (k, hz) -> second.addHessianProduct(z, layout.entries().get(k).offset(), hz));
            if (s == 0) loss = l;
        }
        return loss;
    }
}
