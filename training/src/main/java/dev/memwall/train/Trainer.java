package dev.memwall.train;

import dev.memwall.autograd.GradMode;
import dev.memwall.autograd.Scope;
import dev.memwall.autograd.Tensor;
import dev.memwall.data.Batch;
import dev.memwall.memory.MemoryTracker;
import dev.memwall.memory.Phase;
import dev.memwall.nn.FlatParameters;
import dev.memwall.nn.Gpt;
import dev.memwall.optim.LrSchedule;
import dev.memwall.optim.Optimizer;
import dev.memwall.optim.SecondOrder;
import dev.memwall.sharding.CommTotals;

/**
 * One explicit training step, llm.c style: for each micro-batch a forward and a backward inside a scope (gradients
 * accumulate in the flat gradient buffer, scaled by 1/micro-batches), then clipping, the learning rate of this step,
 * the optimizer update and zeroing the gradients. Nothing else happens behind the caller's back.
 */
public final class Trainer {
    private final Gpt model;
    private final FlatParameters params;
    private final DataParallel dp;
    private final Optimizer optimizer;
    private final LrSchedule schedule;
    private final double maxGradNorm;
    private final MemoryTracker tracker;
    /** The model's parameters in flat order, for a {@link SecondOrder} optimizer's Hessian-vector products. */
    private final java.util.List<Tensor> parameters;
    private long completedSteps;
    /** Autocast and loss scaling, or null: FP32 throughout. */
    private dev.memwall.precision.MixedPrecision mixed;
    /** The route of a second-order optimizer's products ({@link HessianProducts}). */
    private HessianPath hessianPath = HessianPath.fromProperty();

    /**
     * @param maxGradNorm global-norm clipping threshold; 0 disables clipping
     */
    public Trainer(Gpt model, FlatParameters params, Optimizer optimizer, LrSchedule schedule, double maxGradNorm) {
        this(model, DataParallel.single(params), optimizer, schedule, maxGradNorm);
    }

    /**
     * A data-parallel trainer: {@link #step} takes the global batch and trains on this rank's rows, with the
     * collectives of {@code dp}'s ZeRO stage. The optimizer must own exactly {@code dp}'s range.
     */
    public Trainer(Gpt model, DataParallel dp, Optimizer optimizer, LrSchedule schedule, double maxGradNorm) {
        if (!optimizer.shard().sameAs(dp.shard())) {
            throw new IllegalArgumentException("the optimizer owns " + optimizer.shard() + " but rank "
                    + dp.group().rank() + " at " + dp.stage() + " updates " + dp.shard() + "; build it over DataParallel.shard()");
        }
        this.model = model;
        this.dp = dp;
        this.params = dp.params();
        this.optimizer = optimizer;
        this.schedule = schedule;
        this.maxGradNorm = maxGradNorm;
        this.tracker = MemoryTracker.current();
        this.parameters = model.parameters();
        if (optimizer instanceof SecondOrder && dp.buckets() != null) {
            throw new IllegalArgumentException(optimizer.getClass().getSimpleName() + " differentiates the gradient again, "
                    + "which needs the whole gradient's graph in the flat buffer; " + dp.stage() + " hands each gradient to a "
                    + "bucket during backward: use ZeRO stage 0 or 1");
        }
    }

    /**
     * Trains in mixed precision from the next step: each step's forwards and backwards run in one autocast region
     * (the weights cast once per step), the loss is scaled before backward, and the gradients are unscaled, checked
     * for inf/NaN (agreed over ranks) and the update skipped on overflow. Null returns to FP32.
     */
    public Trainer mixedPrecision(dev.memwall.precision.MixedPrecision mp) {
        if (mp != null && mp.scaler().isEnabled() && optimizer instanceof SecondOrder) {
            // the Hessian-vector products would come out scaled too, and only the gradients are unscaled
            throw new IllegalArgumentException(optimizer.getClass().getSimpleName() + " does not support loss scaling: "
                    + "use --loss-scale none (bf16 needs none)");
        }
        if (mp != null && mp.precision() != dev.memwall.precision.Precision.FP32 && dp.stage() == ZeroStage.STAGE_3) {
            // the autocast region caches a low-precision copy per weight for the step, while stage 3 gathers a unit's
            // weights only around its forward and backward: not combined (nor tested) yet
            throw new IllegalArgumentException("--precision " + mp.precision().name().toLowerCase(java.util.Locale.ROOT)
                    + " is not available with ZeRO stage 3 yet; stages 0-2 train in it");
        }
        this.mixed = mp;
        return this;
    }

    public dev.memwall.precision.MixedPrecision mixedPrecision() {
        return mixed;
    }

    /** How a second-order optimizer's steps take g and H·z (default: {@link HessianPath#fromProperty()}). */
    public Trainer hessianPath(HessianPath path) {
        this.hessianPath = java.util.Objects.requireNonNull(path, "hessian path");
        return this;
    }

    public HessianPath hessianPath() {
        return hessianPath;
    }

    /** Optimizer steps taken so far (the next step's index); {@link #step(Batch...)} runs one. */
    public long completedSteps() {
        return completedSteps;
    }

    /** Sets the number of completed steps (when resuming). */
    public void setCompletedSteps(long steps) {
        completedSteps = steps;
    }

    public Gpt model() {
        return model;
    }

    public Optimizer optimizer() {
        return optimizer;
    }

    public FlatParameters params() {
        return params;
    }

    /**
     * One optimizer step over the given micro-batches (gradient accumulation when there are several). Each is a
     * global micro-batch: under data parallelism this rank trains on its rows, and the loss reported is the global
     * mean, the same on every rank.
     */
    public StepStats step(Batch... microBatches) {
        if (microBatches.length == 0) throw new IllegalArgumentException("a step needs at least one micro-batch");
        long t0 = System.nanoTime();
        tracker.resetPeaks();
        dp.group().counters().reset();
        dp.startStep();
        model.train(true);
        float[] losses = new float[microBatches.length];
        long tokens = 0;
        // a second-order step differentiates each micro-batch's gradient again (H·z, before its scope frees the graph)
        SecondOrder second = optimizer instanceof SecondOrder so && so.needsHessian() ? so : null;
        float lossScale = mixed == null ? 1f : mixed.scaler().scale();
        dev.memwall.precision.Autocast region = mixed == null ? null : mixed.begin(); // one weight copy per step
        dev.memwall.autograd.Guard fp8 = mixed == null ? null : mixed.fp8Region(); // FP8 Linear layers, if an FP8 recipe
        // g and H·z by the fused forward-over-reverse pass, or region by region, or left to a createGraph backward
        HessianProducts.Route products = second == null ? null : HessianProducts.route(hessianPath, model,
                dev.memwall.checkpoint.Checkpointing.installed(model), dp, mixed);
        try {
            for (int i = 0; i < microBatches.length; i++) {
                Batch global = microBatches[i], b = dp.localRows(global);
                double share = dp.share(global, b);
                if (products != null && products.takesProducts()) {
                    try (Scope micro = Scope.open()) {
                        tracker.phase(Phase.FORWARD);
                        losses[i] = (float) (products.step(model, b, (float) (share / microBatches.length),
                                params, parameters, second) * share);
                    }
                    tokens += (long) global.batch() * global.context();
                    continue;
                }
                try (Scope micro = Scope.open()) {
                    tracker.phase(Phase.FORWARD);
                    Tensor loss = model.loss(b.idsTensor(), b.targetsTensor());
                    losses[i] = (float) (loss.item() * share);
                    tracker.phase(Phase.BACKWARD);
                    dp.beginBackward(i == microBatches.length - 1);
                    if (second != null) {
                        float scale = (float) (share / microBatches.length);
                        loss.backward(Tensor.scalar(scale), false, true); // never scaled: see mixedPrecision
                        second.accumulateHessian(parameters);
                    } else if (microBatches.length == 1 && share == 1 && lossScale == 1f) {
                        loss.backward();
                    } else {
                        float scale = share == 1 ? 1f / microBatches.length : (float) (share / microBatches.length);
                        loss.backward(Tensor.scalar(scale * lossScale), false, false);
                    }
                    dp.finishBackward();
                }
                tokens += (long) global.batch() * global.context();
            }
        } finally {
            if (fp8 != null) fp8.close();
            if (region != null) region.close();
        }
        dp.sumOverRanks(losses);
        double lossSum = 0;
        for (float l : losses) lossSum += l;
        tracker.phase(Phase.OPTIMIZER);
        dp.reduceGradients();
        if (second != null) dp.sumOverRanks(second.hessianSums()); // H·z of the global loss, like the gradient
        double lr = schedule.lr(completedSteps);
        double[] norm = {Double.NaN};
        Runnable update = () -> {
            norm[0] = dp.clipGradNorm(maxGradNorm);
            optimizer.lr(lr);
            optimizer.step();
            dp.gatherParameters();
        };
        if (mixed == null) update.run();
        else MixedPrecisionStep.unscaleAndStep(mixed.scaler(), dp, update); // skipped (on every rank) on inf/NaN
        optimizer.zeroGrad();
        dp.zeroGradOutsideRange();
        completedSteps++;
        tracker.phase(Phase.SETUP);
        double ms = (System.nanoTime() - t0) / 1e6;
        CommTotals comm = dp.group().counters().total(), inBackward = dp.group().counters().phase(Phase.BACKWARD);
        return new StepStats(completedSteps, lossSum / microBatches.length, lr, norm[0], tokens, ms,
                tracker.peakByCategory(), tracker.peakTotal(), tracker.currentByCategory(), comm.bytesSent(), comm.bytesReceived(), inBackward.bytesSent(),
                dp.hiddenFraction(dp.group().counters()));
    }

    /**
     * Stage 2: the share of the gradient reductions' time (on the communication thread, the collectives issued in
     * BACKWARD) during which the training thread was not blocked waiting for them; NaN without such collectives.
     */
    static double hiddenFraction(GradientBuckets buckets, long commNanos) {
        if (buckets == null || commNanos <= 0) return Double.NaN;
        return Math.max(0, 1 - (double) buckets.waitNanos() / commNanos);
    }

    /** The data-parallel setting of this trainer (world size 1 and stage 0 for a single process). */
    public DataParallel dataParallel() {
        return dp;
    }

    /** Mean loss over the given batches, in eval mode and without recording a graph. */
    public double evalLoss(Iterable<Batch> batches) {
        Phase previous = tracker.phase(Phase.EVAL);
        model.train(false);
        double sum = 0;
        int n = 0;
        try (var off = GradMode.noGrad()) {
            for (Batch b : batches) {
                try (Scope s = Scope.open()) {
                    sum += model.loss(b.idsTensor(), b.targetsTensor()).item();
                    n++;
                }
            }
        } finally {
            model.train(true);
            tracker.phase(previous);
        }
        return n == 0 ? Double.NaN : sum / n;
    }
}
