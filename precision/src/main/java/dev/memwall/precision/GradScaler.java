package dev.memwall.precision;

import java.util.function.DoubleUnaryOperator;

/**
 * Loss scaling with PyTorch's semantics ({@code torch.amp.GradScaler}): the loss is multiplied by the scale before
 * backward, so gradients too small for FP16 survive; the gradients are unscaled (multiplied by 1/scale, computed in
 * double) before clipping and the update; a step whose gradients hold inf or NaN is skipped; then the scale is updated.
 *
 * <p>Dynamic defaults (PyTorch's): scale 2^16, ×2 after 2,000 consecutive clean steps, ×0.5 on an overflow (and the
 * count of clean steps starts again from zero). Optionally DeepSpeed's hysteresis ({@link #dynamicWithHysteresis}):
 * the scale backs off only after {@code hysteresis} overflows (the budget refills when the scale grows), never below
 * the minimum scale, and an overflow at the minimum is an error, since the run cannot make progress. A
 * {@link #constant} scaler keeps its scale and still skips non-finite steps; a {@link #disabled} one does nothing
 * (scale 1, no check, every step taken).
 *
 * <p>Each step moves through PyTorch's stages, and anything out of order is an error:
 * READY —{@link #unscale}→ UNSCALED —{@link #step}→ STEPPED —{@link #update}→ READY. {@code step} unscales first when
 * called in READY. With several ranks (ZeRO), each rank sees only its gradients: the found-inf flag goes through the
 * {@code agreement} given to {@link #unscale} (an all-reduce) before any rank steps, so all skip or none does.
 */
public final class GradScaler {
    public static final float DEFAULT_INIT_SCALE = 65536f;
    public static final double DEFAULT_GROWTH_FACTOR = 2.0, DEFAULT_BACKOFF_FACTOR = 0.5;
    public static final int DEFAULT_GROWTH_INTERVAL = 2000;

    /** PyTorch's per-step stages. */
    public enum Stage { READY, UNSCALED, STEPPED }

    /** What is saved with the training state; restoring it continues bit-identically. */
    public record State(float scale, int growthTracker, int hysteresisLeft, long skippedSteps) {
    }

    private enum Kind { DYNAMIC, CONSTANT, DISABLED }

    private final Kind kind;
    private final double growthFactor, backoffFactor;
    private final int growthInterval, hysteresis;
    private final float minScale;
    private final boolean errorAtMinimum;
    private float scale;
    private int growthTracker, hysteresisLeft;
    private long skippedSteps;
    private Stage stage = Stage.READY;
    private boolean foundInf;

    private GradScaler(Kind kind, float initScale, double growthFactor, double backoffFactor, int growthInterval,
                       int hysteresis, float minScale, boolean errorAtMinimum) {
        if (!(initScale > 0) || Float.isInfinite(initScale)) throw new IllegalArgumentException("loss scale must be positive and finite, got " + initScale);
        if (!(growthFactor > 1)) throw new IllegalArgumentException("growth factor must be > 1, got " + growthFactor);
        if (!(backoffFactor > 0 && backoffFactor < 1)) throw new IllegalArgumentException("backoff factor must be in (0, 1), got " + backoffFactor);
        if (growthInterval < 1) throw new IllegalArgumentException("growth interval must be >= 1, got " + growthInterval);
        if (hysteresis < 1) throw new IllegalArgumentException("hysteresis must be >= 1, got " + hysteresis);
        if (minScale < 0 || minScale > initScale) throw new IllegalArgumentException("minimum scale must be in [0, " + initScale + "], got " + minScale);
        this.kind = kind;
        this.scale = initScale;
        this.growthFactor = growthFactor;
        this.backoffFactor = backoffFactor;
        this.growthInterval = growthInterval;
        this.hysteresis = hysteresis;
        this.hysteresisLeft = hysteresis;
        this.minScale = minScale;
        this.errorAtMinimum = errorAtMinimum;
    }

    /** PyTorch's defaults: 2^16, ×2 every 2,000 clean steps, ×0.5 on overflow. */
    public static GradScaler dynamic() {
        return dynamic(DEFAULT_INIT_SCALE, DEFAULT_GROWTH_FACTOR, DEFAULT_BACKOFF_FACTOR, DEFAULT_GROWTH_INTERVAL);
    }

    public static GradScaler dynamic(float initScale, double growthFactor, double backoffFactor, int growthInterval) {
        return new GradScaler(Kind.DYNAMIC, initScale, growthFactor, backoffFactor, growthInterval, 1, 0f, false);
    }

    /** PyTorch's defaults with DeepSpeed's hysteresis (DeepSpeed: hysteresis 2, min_loss_scale 1). */
    public static GradScaler dynamicWithHysteresis(int hysteresis, float minScale) {
        return new GradScaler(Kind.DYNAMIC, DEFAULT_INIT_SCALE, DEFAULT_GROWTH_FACTOR, DEFAULT_BACKOFF_FACTOR,
                DEFAULT_GROWTH_INTERVAL, hysteresis, minScale, true);
    }

    /** A fixed scale (static loss scaling); steps with non-finite gradients are still skipped. */
    public static GradScaler constant(float scale) {
        return new GradScaler(Kind.CONSTANT, scale, DEFAULT_GROWTH_FACTOR, DEFAULT_BACKOFF_FACTOR, DEFAULT_GROWTH_INTERVAL, 1, 0f, false);
    }

    /** No loss scaling: scale 1, no inf/NaN check, every step taken (BF16's default, FP32's). */
    public static GradScaler disabled() {
        return new GradScaler(Kind.DISABLED, 1f, DEFAULT_GROWTH_FACTOR, DEFAULT_BACKOFF_FACTOR, DEFAULT_GROWTH_INTERVAL, 1, 0f, false);
    }

    public boolean isEnabled() {
        return kind != Kind.DISABLED;
    }

    /** The current scale: what the loss (or backward's seed gradient) is multiplied by. */
    public float scale() {
        return scale;
    }

    public Stage stage() {
        return stage;
    }

    public int growthTracker() {
        return growthTracker;
    }

    public long skippedSteps() {
        return skippedSteps;
    }

    /** Whether the last unscale found inf or NaN (valid until {@link #update}). */
    public boolean foundInf() {
        return foundInf;
    }

    /**
     * Multiplies the gradients by 1/scale (in place) and records whether any is inf or NaN, agreed over ranks through
     * {@code agreement} (given this rank's flag, 0 or 1; returns the flag all ranks act on — an all-reduce MAX, or a
     * sum, whose being positive means the same; {@code null} for a single process). Call once per step, before clipping.
     */
    public void unscale(GradientRanges grads, DoubleUnaryOperator agreement) {
        if (kind == Kind.DISABLED) return;
        if (stage == Stage.UNSCALED) throw new IllegalStateException("unscale() has already been called since the last update()");
        if (stage == Stage.STEPPED) throw new IllegalStateException("unscale() is being called after step()");
        float inv = (float) (1.0 / scale); // PyTorch: the reciprocal in double, used as a float
        boolean inf = false;
        float[] g = grads.array();
        for (int k = 0; k < grads.starts().length; k++) {
            for (int i = grads.starts()[k], end = i + grads.lengths()[k]; i < end; i++) {
                float v = g[i] * inv;
                g[i] = v;
                if (!Float.isFinite(v)) inf = true;
            }
        }
        double flag = inf ? 1 : 0;
        if (agreement != null) flag = agreement.applyAsDouble(flag);
        foundInf = flag > 0;
        stage = Stage.UNSCALED;
    }

    /**
     * Runs {@code optimizerStep} unless the gradients held inf or NaN (unscaling them first if this step has not);
     * returns whether it ran. A skipped step is counted in {@link #skippedSteps()}.
     */
    public boolean step(GradientRanges grads, DoubleUnaryOperator agreement, Runnable optimizerStep) {
        if (kind == Kind.DISABLED) {
            optimizerStep.run();
            return true;
        }
        if (stage == Stage.STEPPED) throw new IllegalStateException("step() has already been called since the last update()");
        if (stage == Stage.READY) unscale(grads, agreement);
        stage = Stage.STEPPED;
        if (foundInf) {
            skippedSteps++;
            return false;
        }
        optimizerStep.run();
        return true;
    }

    /** Updates the scale from this step's found-inf flag and returns to READY. */
    public void update() {
        if (kind == Kind.DISABLED) return;
        if (stage == Stage.READY) throw new IllegalStateException("no inf checks were recorded prior to update(): unscale or step first");
        if (kind == Kind.DYNAMIC) {
            if (foundInf) backoff();
            else grow();
        }
        foundInf = false;
        stage = Stage.READY;
    }

    private void backoff() {
        growthTracker = 0;
        if (hysteresisLeft > 1) { // DeepSpeed: tolerate this overflow, keep the scale
            hysteresisLeft--;
            return;
        }
        if (errorAtMinimum && scale <= minScale) {
            throw new IllegalStateException("loss scale is already at its minimum " + minScale
                    + " and the gradients still overflow: training cannot continue (lower the learning rate or use BF16)");
        }
        scale = Math.max((float) (scale * backoffFactor), minScale);
    }

    private void grow() {
        int successful = growthTracker + 1;
        if (successful == growthInterval) {
            float grown = (float) (scale * growthFactor);
            if (Float.isFinite(grown)) scale = grown; // PyTorch: never grow past FP32's range
            growthTracker = 0;
            hysteresisLeft = hysteresis; // DeepSpeed refills the budget when the scale grows
        } else {
            growthTracker = successful;
        }
    }

    /** What resuming needs; see {@link #restore}. Only between steps (stage READY). */
    public State state() {
        if (stage != Stage.READY) throw new IllegalStateException("the scaler's state is saved between steps, not in stage " + stage);
        return new State(scale, growthTracker, hysteresisLeft, skippedSteps);
    }

    public void restore(State s) {
        if (!(s.scale() > 0) || Float.isInfinite(s.scale())) throw new IllegalArgumentException("saved loss scale " + s.scale() + " is not positive and finite");
        if (s.growthTracker() < 0 || s.growthTracker() >= growthInterval) {
            throw new IllegalArgumentException("saved growth tracker " + s.growthTracker() + " outside [0, " + growthInterval + ")");
        }
        if (s.hysteresisLeft() < 1 || s.hysteresisLeft() > hysteresis) {
            throw new IllegalArgumentException("saved hysteresis " + s.hysteresisLeft() + " outside [1, " + hysteresis + "]");
        }
        scale = s.scale();
        growthTracker = s.growthTracker();
        hysteresisLeft = s.hysteresisLeft();
        skippedSteps = s.skippedSteps();
        stage = Stage.READY;
        foundInf = false;
    }
}
