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
    /** {@code --grad-dtype bf16|fp16}: the gradients' low-format slot, or null (FP32 flat buffer). */
    private LowPrecisionGradients lowGrads;
    /** The route of a second-order optimizer's products ({@link HessianProducts}). */
    private HessianPath hessianPath = HessianPath.fromProperty();
    /** The fused pass's tangent GEMM operands in an FP32 run ({@code --hessian-dtype}). */
    private HessianDtype hessianDtype = HessianDtype.FP32;

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
        HessianProducts.requireSupportedStage(dp, optimizer); // AdaHessian: stages 0 to 2
        this.model = model;
        this.dp = dp;
        this.params = dp.params();
        this.optimizer = optimizer;
        this.schedule = schedule;
        this.maxGradNorm = maxGradNorm;
        this.tracker = MemoryTracker.current();
        this.parameters = model.parameters();
    }

    /**
     * Trains in mixed precision from the next step: each step's forwards and backwards run in one autocast region
     * (the weights cast once per step), the loss is scaled before backward, and the gradients are unscaled, checked
     * for inf/NaN (agreed over ranks) and the update skipped on overflow. Null returns to FP32.
     */
    public Trainer mixedPrecision(dev.memwall.precision.MixedPrecision mp) {
        if (dp.stage() == ZeroStage.STAGE_3) ShardedPrecision.configureStageThree(dp, mp); // gathers in the working format
        else ShardedPrecision.configure(dp, mp); // stages 1-2: GEMM weights gathered in it
        dev.memwall.precision.GradDtype grads = mp == null ? dev.memwall.precision.GradDtype.FP32 : mp.gradDtype();
        if (lowGrads != null && lowGrads.format() != grads) throw new IllegalStateException("the gradient format is set once per trainer");
        if (lowGrads == null) lowGrads = LowPrecisionGradients.attach(model, dp, optimizer, grads);
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

    /** The operand format of the fused pass's tangent GEMMs in an FP32 run (default FP32; {@link HessianDtype}). */
    public Trainer hessianDtype(HessianDtype dtype) {
        this.hessianDtype = java.util.Objects.requireNonNull(dtype, "hessian dtype");
        return this;
    }

    public HessianDtype hessianDtype() {
        return hessianDtype;
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
                dev.memwall.checkpoint.Checkpointing.installed(model), dp, mixed, hessianDtype);
        // ZeRO stage 2: this step's gradient goes into a transient flat buffer, reduced after the backwards
        StageTwoHessian wholeGradient = second != null && dp.buckets() != null ? StageTwoHessian.begin(dp, parameters) : null;
        try {
            for (int i = 0; i < microBatches.length; i++) {
                Batch global = microBatches[i], b = dp.localRows(global);
                double share = dp.share(global, b);
                if (products != null && products.takesProducts()) {
                    try (Scope micro = Scope.open()) {
                        tracker.phase(Phase.FORWARD);
                        losses[i] = (float) (products.step(model, b, (float) (share / microBatches.length) * lossScale,
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
                        loss.backward(Tensor.scalar(scale * lossScale), false, true); // H·z comes out scaled too
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
        } catch (RuntimeException | Error e) {
            if (wholeGradient != null) wholeGradient.close();
            throw e;
        } finally {
            if (fp8 != null) fp8.close();
            if (region != null) region.close();
        }
        dp.sumOverRanks(losses);
        double lossSum = 0;
        for (float l : losses) lossSum += l;
        tracker.phase(Phase.OPTIMIZER);
        if (lowGrads != null) lowGrads.materialize(); // decoded into FP32 for the reduction, unscaling and the update
        dp.reduceGradients();
        if (wholeGradient != null) wholeGradient.reduce(second); // g into the shard, the products' sums over ranks
        else if (second != null) dp.sumOverRanks(second.hessianSums()); // H·z of the global loss, like the gradient
        double lr = schedule.lr(completedSteps);
        double[] norm = {Double.NaN};
        Runnable update = () -> {
            norm[0] = dp.clipGradNorm(maxGradNorm);
            optimizer.lr(lr);
            optimizer.step();
            dp.gatherParameters();
        };
        if (mixed == null) update.run();
        else MixedPrecisionStep.unscaleAndStep(mixed.scaler(), dp, second, update); // skipped (on every rank) on inf/NaN
        optimizer.zeroGrad();
        dp.zeroGradOutsideRange();
        if (lowGrads != null) lowGrads.endStep();
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
