package dev.memwall.train;

import dev.memwall.autograd.Tensor;
import dev.memwall.memory.Category;
import dev.memwall.nn.FlatParameters;
import dev.memwall.nn.Gpt;
import dev.memwall.optim.Optimizer;
import dev.memwall.optim.SecondOrder;
import dev.memwall.precision.GradDtype;

import java.util.Map;

/**
 * {@code --grad-dtype bf16|fp16}: the gradients this rank keeps held in 2 bytes per element ({@link HalfGradients})
 * from backward to the update, and decoded into FP32 — as a TEMPORARY of phase OPTIMIZER — for unscaling, the inf/NaN
 * check, clipping (the global norm from the decoded values) and the optimizer. What is held, per ZeRO stage:
 * <ul>
 *   <li>stages 0 and 1: the whole flat layout (padding included), the FP32 flat gradient buffer released. Every
 *       parameter gets a gradient-ready hook instead of a {@code .grad()} view: the engine sums a parameter's
 *       contributions within one backward in FP32 and hands the sum over once, and it is added into the low buffer
 *       (rounded once per micro-batch: with several, the running sum is rounded after each — accumulation in the low
 *       format, as PyTorch does with gradients in the parameters' dtype). The decoded flat buffer is then all-reduced
 *       or reduce-scattered as in FP32;</li>
 *   <li>stage 2: this rank's gradient shard, L/N elements ({@link GradientBuckets#holdIn}): the buckets are reduced in
 *       FP32 (or {@code --reduce-dtype}) and accumulate over micro-batches in FP32, exactly as without it, and each
 *       reduced piece is rounded once into the shard; the update reads a decoded FP32 copy of L/N floats;</li>
 *   <li>stage 3: this rank's gradient shard, Σ p_u elements ({@link UnitReduction}): each unit's reduced piece is added
 *       into it (with several micro-batches rounded after each, as at stages 0 and 1); the shard's FP32 flat buffer
 *       exists only in the update.</li>
 * </ul>
 * GRADIENT is therefore 2 bytes per element this rank keeps at every moment, {@link #endStep} zeroes the low array
 * and releases the FP32 copy. An overflow is stored as infinity (never saturated), so the loss scaler sees it.
 */
final class LowPrecisionGradients {
    private final HalfGradients held;
    private final Runnable materialize, endStep;

    private LowPrecisionGradients(HalfGradients held, Runnable materialize, Runnable endStep) {
        this.held = held;
        this.materialize = materialize;
        this.endStep = endStep;
    }

    /**
     * Gradients in {@code format} for {@code model}'s training, or null for FP32. Refused with a second-order optimizer:
     * its Hessian steps need the FP32 flat gradient buffer — the createGraph and region-by-region routes differentiate
     * it again, and the fused forward-over-reverse pass, though it builds no graph, adds g straight into FP32
     * {@code .grad()} views of it inside its own backward, where no gradient-ready hook fires. A Hessian step would
     * bring the 4-byte buffer back, so the run's gradient peak would be FP32's: nothing saved.
     */
    static LowPrecisionGradients attach(Gpt model, DataParallel dp, Optimizer optimizer, GradDtype format) {
        if (format == GradDtype.FP32) return null;
        String option = "--grad-dtype " + format.label();
        if (optimizer instanceof SecondOrder) {
            throw new IllegalArgumentException(option + " does not compose with " + optimizer.getClass().getSimpleName()
                    + ": its Hessian steps need the FP32 flat gradient buffer (the createGraph and region routes differentiate it "
                    + "again; the fused forward-over-reverse pass adds g straight into it, with no gradient-ready hook), so the "
                    + "gradient peak would be FP32's anyway; use --grad-dtype fp32");
        }
        return switch (dp.stage()) {
            case STAGE_0, STAGE_1 -> flat(model, dp.params(), format);
            case STAGE_2 -> stageTwo(dp.buckets(), optimizer, format);
            case STAGE_3 -> stageThree(dp.units(), dp.params(), format);
        };
    }

    /** Stages 0 and 1: the whole flat layout, filled by gradient-ready hooks. */
    private static LowPrecisionGradients flat(Gpt model, FlatParameters params, GradDtype format) {
        HalfGradients held = new HalfGradients(format, params.length(), "grad_" + format.label());
        Map<String, Tensor> named = model.namedParameters();
        for (FlatParameters.Entry e : params.entries()) {
            Tensor p = named.get(e.name());
            if (p == null) throw new IllegalStateException("flat entry " + e.name() + " is no parameter of the model");
            p.grad(null); // the flat FP32 view; gradients now arrive through the hook
            int offset = e.offset();
            p.onGradientReady(g -> {
                if (g != null) held.add(offset, g.data(), g.offset(), g.numel());
            });
        }
        params.grads().release();
        return new LowPrecisionGradients(held, () -> decodeFlat(params, held), () -> endFlat(params, held));
    }

    /** Stage 2: the gradient shard of the buckets; the optimizer reads the decoded copy. */
    private static LowPrecisionGradients stageTwo(GradientBuckets buckets, Optimizer optimizer, GradDtype format) {
        HalfGradients held = new HalfGradients(format, buckets.shardLength(), "grad_shard_" + format.label());
        buckets.holdIn(held);
        optimizer.gradientsFrom(buckets::shardGradients);
        Tensor[] decoded = new Tensor[1];
        Runnable materialize = () -> {
            decoded[0] = Tensor.empty(dev.memwall.autograd.DType.FP32, Category.TEMPORARY, "grad_shard_decoded", held.length());
            held.decodeInto(decoded[0].data());
            buckets.decodedShard(decoded[0].data());
        };
        Runnable end = () -> {
            held.zero();
            buckets.decodedShard(null);
            if (decoded[0] != null) decoded[0].release();
            decoded[0] = null;
        };
        return new LowPrecisionGradients(held, materialize, end);
    }

    /** Stage 3: the gradient shard of the units; the shard's FP32 flat buffer is made again for the update. */
    private static LowPrecisionGradients stageThree(ParameterShards units, FlatParameters local, GradDtype format) {
        HalfGradients held = new HalfGradients(format, local.length(), "grad_shard_" + format.label());
        units.holdGradientsIn(held);
        return new LowPrecisionGradients(held, () -> decodeFlat(local, held), () -> endFlat(local, held));
    }

    private static void decodeFlat(FlatParameters params, HalfGradients held) {
        params.grads().reallocate(Category.TEMPORARY);
        held.decodeInto(params.grads().whole().data());
    }

    private static void endFlat(FlatParameters params, HalfGradients held) {
        held.zero();
        params.grads().release();
    }

    /** The FP32 gradients again (TEMPORARY), holding the decoded ones: what the reduction (stages 0-1) and the update read. */
    void materialize() {
        materialize.run();
    }

    /** After the update (or the skipped update): the low array zeroed for the next step, the FP32 copy released. */
    void endStep() {
        endStep.run();
    }

    GradDtype format() {
        return held.format();
    }

    /** The gradients as held between backward and the update (2 bytes per element), for tests. */
    Tensor held() {
        return held.tensor();
    }
}
