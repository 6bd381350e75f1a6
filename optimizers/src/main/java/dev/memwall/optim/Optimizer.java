package dev.memwall.optim;

import dev.memwall.autograd.Tensor;
import dev.memwall.nn.FlatParameters;

import java.util.Map;

/**
 * Updates one element range [from, to) of a model's flat parameter buffer from the same range of its flat gradient
 * buffer (or, at ZeRO stage 2, the segments of a {@link Shard} with gradients in an array of their own). Owning a
 * range rather than a list of tensors is what lets a sharded optimizer keep state for its slice only.
 */
public abstract class Optimizer {
    protected final FlatParameters params;
    protected final int from, to;
    /** What this optimizer updates; one range [from, to) unless built over a {@link Shard} of several segments. */
    protected final Shard shard;
    protected double lr;
    protected long step;

    protected Optimizer(FlatParameters params, int from, int to, double lr) {
        this(params, checkedRange(params, from, to), lr);
    }

    /** Over the segments of {@code shard}, each of which must lie inside the flat buffers. */
    protected Optimizer(FlatParameters params, Shard shard, double lr) {
        for (int k = 0; k < shard.starts().length; k++) {
            if (shard.starts()[k] + shard.lengths()[k] > params.length()
                    || (shard.grads() == null && shard.gradStarts()[k] + shard.lengths()[k] > params.length())) {
                throw new IllegalArgumentException("optimizer segment " + k + " [" + shard.starts()[k] + ", "
                        + (shard.starts()[k] + shard.lengths()[k]) + ") outside [0, " + params.length() + ")");
            }
        }
        if (!(lr >= 0)) throw new IllegalArgumentException("learning rate must be >= 0, got " + lr);
        int n = shard.starts().length;
        this.params = params;
        this.shard = shard;
        this.from = n == 0 ? 0 : shard.starts()[0];
        this.to = n == 0 ? 0 : shard.starts()[n - 1] + shard.lengths()[n - 1];
        this.lr = lr;
    }

    private static Shard checkedRange(FlatParameters params, int from, int to) {
        if (from < 0 || to > params.length() || from > to) {
            throw new IllegalArgumentException("optimizer range [" + from + ", " + to + ") outside [0, " + params.length() + ")");
        }
        return Shard.range(from, to);
    }

    /** Applies one update with the current learning rate, then counts the step. */
    public final void step() {
        step++;
        update(params.values().whole().data(), gradients());
    }

    /** The array the gradients are read from: the shard's own, or the flat gradient buffer. */
    private float[] gradients() {
        if (gradientSource != null) return gradientSource.get();
        return shard.grads() != null ? shard.grads() : params.grads().whole().data();
    }

    /** Where a shard's gradients are read from when its FP32 array is made afresh for each update; null: the shard's own. */
    private java.util.function.Supplier<float[]> gradientSource;

    /**
     * Reads the shard's gradients from the array {@code source} gives at each update and zeroing, at the shard's own
     * gradient starts, instead of from the shard's array: for a shard whose gradients are held in another format between
     * steps and decoded into a new FP32 array for the update (ZeRO stage 2 with {@code --grad-dtype bf16}).
     */
    public final void gradientsFrom(java.util.function.Supplier<float[]> source) {
        if (shard.grads() == null) throw new IllegalStateException("the optimizer reads the flat gradient buffer, not a shard's array");
        gradientSource = source;
    }

    /**
     * Updates every segment of {@link #shard}: values[starts[k] …) from grads[gradStarts[k] …), state from the sum of
     * the earlier segments' lengths; {@link #step} is already the 1-based number of this update.
     */
    protected abstract void update(float[] values, float[] grads);

    public final void zeroGrad() {
        dev.memwall.autograd.OpStats.Frame frame = dev.memwall.autograd.OpStats.begin("zero_grad");
        float[] g = gradients();
        for (int k = 0; k < shard.starts().length; k++) {
            java.util.Arrays.fill(g, shard.gradStarts()[k], shard.gradStarts()[k] + shard.lengths()[k], 0f);
        }
        if (frame != null) frame.end(0, 4.0 * shard.size());
    }

    /** The elements this optimizer updates. */
    public final Shard shard() {
        return shard;
    }

    public final double lr() {
        return lr;
    }

    public final void lr(double value) {
        if (!(value >= 0)) throw new IllegalArgumentException("learning rate must be >= 0, got " + value);
        lr = value;
    }

    public final long stepCount() {
        return step;
    }

    public final int from() {
        return from;
    }

    public final int to() {
        return to;
    }

    /** State tensors by name (e.g. "exp_avg"), covering the shard's segments in order; saved with the training state. */
    public abstract Map<String, Tensor> stateTensors();

    /**
     * The state as FP32 tensors, one value per element of the shard, that a checkpoint saves; by default
     * {@link #stateTensors()} themselves. An optimizer with compact state returns temporaries (released by the
     * enclosing scope) and rebuilds its state from them in {@link #loadSavedState}.
     */
    public Map<String, Tensor> savedState() {
        return stateTensors();
    }

    /** Takes the state from {@code filled}, tensors as {@link #savedState()} returned them and then filled; default: nothing (filled in place). */
    public void loadSavedState(Map<String, Tensor> filled) {
    }

    /** Restores the step counter (the state tensors are restored in place through {@link #stateTensors()}). */
    public final void stepCount(long s) {
        step = s;
    }

    /** Releases the optimizer state. */
    public void release() {
        stateTensors().values().forEach(Tensor::releaseIfAlive);
    }
}
