package dev.memwall.train;

import dev.memwall.autograd.DType;
import dev.memwall.autograd.Tensor;
import dev.memwall.checkpoint.ForwardOverReverse;
import dev.memwall.checkpoint.Policy;
import dev.memwall.data.Batch;
import dev.memwall.nn.FlatParameters;
import dev.memwall.nn.Gpt;
import dev.memwall.optim.SecondOrder;
import dev.memwall.precision.MixedPrecision;
import dev.memwall.precision.Precision;
import dev.memwall.rop.GemmFormats;
import dev.memwall.rop.GptRop;

import java.util.List;

/**
 * A second-order micro-batch's gradient and Hessian-vector products, by the route a {@link HessianPath} and the step's
 * setting give ({@link #route}): {@link Route#takesProducts()} routes run the whole micro-batch here — the gradient
 * into the flat buffer once (with the first draw), every draw's products to the optimizer — and the others leave it to
 * the trainer's createGraph backward.
 */
final class HessianProducts {
    private HessianProducts() {
    }

    /**
     * Refuses a second-order optimizer at ZeRO stage 3, before any step. Every route needs what stage 3 shards away:
     * the fused pass and the region-by-region product read every parameter of the model through one forward and
     * backward and add g into {@code .grad()} buffers (stage 3 gathers a unit's parameters only around its own forward
     * and backward, and hands gradients to reduce-scatter hooks), and the createGraph backward cannot go through
     * gradient-ready hooks. Making the fused pass gather per unit (and reduce g and z ⊙ Hz per unit) is the way there.
     */
    static void requireSupportedStage(DataParallel dp, dev.memwall.optim.Optimizer optimizer) {
        if (optimizer instanceof SecondOrder && dp.stage() == ZeroStage.STAGE_3) {
            throw new IllegalArgumentException(optimizer.getClass().getSimpleName() + " does not train at ZeRO stage 3: its "
                    + "Hessian-vector products need every parameter through a whole forward and backward, which stage 3 gathers "
                    + "one unit at a time; use --zero 2 (the fused pass, optimizer state 12Ψ/N per rank) or --zero 1");
        }
    }

    /** What a step does for its products. */
    enum Kind { FORWARD_OVER_REVERSE, REGIONS, CREATE_GRAPH }

    /** {@code formats}: the fused pass's GEMM operands (autocast's, or BF16 tangent GEMMs); FP32 on the other routes. */
    record Route(Kind kind, Policy policy, GemmFormats formats) {
        Route(Kind kind, Policy policy) {
            this(kind, policy, GemmFormats.FP32);
        }

        boolean takesProducts() {
            return kind != Kind.CREATE_GRAPH;
        }

        /** Returns the micro-batch's (unscaled) loss; {@code scale} weighs its gradient and products, as in backward. */
        float step(Gpt model, Batch b, float scale, FlatParameters layout, List<Tensor> parameters, SecondOrder second) {
            if (kind == Kind.REGIONS) return RegionHessian.step(model, policy, b, scale, layout, parameters, second);
            List<float[]> directions = second.hessianDirections();
            float loss = Float.NaN;
            for (int s = 0; s < directions.size(); s++) {
                float[] z = directions.get(s);
                float l = ForwardOverReverse.run(model, policy, b.idsTensor(), b.targetsTensor(), scale, layout, parameters,
                        z, s == 0, (k, hz) -> second.addHessianProduct(z, layout.entries().get(k).offset(), hz), formats);
                if (s == 0) loss = l; // the gradient goes into the flat buffer once, with the first draw
            }
            return loss;
        }
    }

    /** As {@link #route(HessianPath, Gpt, Policy, DataParallel, MixedPrecision, HessianDtype)} with FP32 products. */
    static Route route(HessianPath path, Gpt model, Policy policy, DataParallel dp, MixedPrecision mixed) {
        return route(path, model, policy, dp, mixed, HessianDtype.FP32);
    }

    /**
     * The route of a step: the fused pass where it applies (FP32, or BF16/FP16 autocast with its GEMM rules; no active
     * dropout; every parameter present: ZeRO stages 0 to 2 — at stage 2, in FP32 with FP32 products, the pass adds g
     * into {@link StageTwoHessian}'s transient flat buffer, reduced with the z ⊙ Hz sums after the step's last
     * micro-batch), else the region-by-region product under a checkpointing policy, else the createGraph backward.
     * Stage 3 gathers each unit's parameters around its forward and backward, which the pass does not do. The FP8
     * recipes keep the older routes: their Linear layers (scaled E4M3 operands, E5M2 gradients) have no fused rule.
     * Autocast or BF16 products at stage 2 keep the older routes too: that composition is not tested yet.
     */
    static Route route(HessianPath path, Gpt model, Policy policy, DataParallel dp, MixedPrecision mixed, HessianDtype hessian) {
        Precision precision = mixed == null ? Precision.FP32 : mixed.precision();
        if (hessian != HessianDtype.FP32 && precision != Precision.FP32) {
            throw new IllegalArgumentException("--hessian-dtype " + hessian.label() + " applies to an FP32 run, not --precision "
                    + precision.label() + " (under autocast the tangent GEMMs follow autocast's format already)");
        }
        GemmFormats formats = switch (precision) {
            case FP32 -> hessian.formats();
            case BF16 -> GemmFormats.autocast(DType.BF16);
            case FP16 -> GemmFormats.autocast(DType.FP16);
            default -> null; // FP8: no fused rule
        };
        boolean allFp32 = precision == Precision.FP32 && hessian == HessianDtype.FP32;
        boolean stageFits = dp.stage() == ZeroStage.STAGE_0 || dp.stage() == ZeroStage.STAGE_1
                || dp.stage() == ZeroStage.STAGE_2 && allFp32;
        if (path == HessianPath.FORWARD_OVER_REVERSE && formats != null && stageFits && GptRop.supports(model)) {
            return new Route(Kind.FORWARD_OVER_REVERSE, policy, formats);
        }
        if (path != HessianPath.CREATE_GRAPH && policy != null) return new Route(Kind.REGIONS, policy);
        return new Route(Kind.CREATE_GRAPH, policy);
    }
}
