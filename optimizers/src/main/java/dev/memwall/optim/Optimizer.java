package dev.memwall.optim;

import dev.memwall.autograd.Tensor;
import dev.memwall.nn.FlatParameters;

import java.util.Map;

/**
 * Updates one element range [from, to) of a model's flat parameter buffer from the same range of its flat gradient
 * buffer. Owning a range rather than a list of tensors is what lets a sharded optimizer keep state for its slice only.
 */
public abstract class Optimizer {
    protected final FlatParameters params;
    protected final int from, to;
    protected double lr;
    protected long step;

    protected Optimizer(FlatParameters params, int from, int to, double lr) {
        if (from < 0 || to > params.length() || from > to) {
            throw new IllegalArgumentException("optimizer range [" + from + ", " + to + ") outside [0, " + params.length() + ")");
        }
        if (!(lr >= 0)) throw new IllegalArgumentException("learning rate must be >= 0, got " + lr);
        this.params = params;
        this.from = from;
        this.to = to;
        this.lr = lr;
    }

    /** Applies one update with the current learning rate, then counts the step. */
    public final void step() {
        step++;
        update(params.values().whole().data(), params.grads().whole().data());
    }

    /** Updates values[from, to) from grads[from, to); {@link #step} is already the 1-based number of this update. */
    protected abstract void update(float[] values, float[] grads);

    public final void zeroGrad() {
        dev.memwall.autograd.OpStats.Frame frame = dev.memwall.autograd.OpStats.begin("zero_grad");
        java.util.Arrays.fill(params.grads().whole().data(), from, to, 0f);
        if (frame != null) frame.end(0, 4.0 * (to - from));
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

    /** State tensors by name (e.g. "exp_avg"), covering [from, to); saved with the training state. */
    public abstract Map<String, Tensor> stateTensors();

    /** Restores the step counter (the state tensors are restored in place through {@link #stateTensors()}). */
    public final void stepCount(long s) {
        step = s;
    }

    /** Releases the optimizer state. */
    public void release() {
        stateTensors().values().forEach(Tensor::releaseIfAlive);
    }
}
