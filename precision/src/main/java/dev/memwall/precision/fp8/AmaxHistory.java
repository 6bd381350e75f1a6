package dev.memwall.precision.fp8;

import java.util.Arrays;

/**
 * Delayed scaling's state for one tensor role: a rolling window of the last amaxes and the scale they give. A tensor is
 * quantized with {@link #scale()}, then its amax is {@link #record recorded}, which rolls the window and computes the
 * scale the next tensor of this role will use. The scale starts at 1.
 *
 * <p>A non-finite amax (an overflowed step, which a loss scaler skips) is not written into the window: it would pin
 * the MAX reduction, and with it the scale, for a whole window of 1,024 steps. The scale stays the previous one and
 * {@link #nonFinite()} counts the event.
 */
public final class AmaxHistory {
    private final DelayedScaling recipe;
    private final float fp8Max;
    private final float[] window;
    private int head;
    private int filled;
    private float scale = 1f;
    private int nonFinite;

    public AmaxHistory(DelayedScaling recipe, Fp8Format format) {
        this.recipe = recipe;
        this.fp8Max = format.max;
        this.window = new float[recipe.amaxHistoryLen()];
    }

    /** The scale to quantize the next tensor of this role with. */
    public float scale() {
        return scale;
    }

    /** Adds this iteration's amax to the window and updates the scale. */
    public void record(float amax) {
        if (!Float.isFinite(amax)) {
            nonFinite++;
            return;
        }
        window[head] = amax;
        head = (head + 1) % window.length;
        filled = Math.min(filled + 1, window.length);
        scale = ScaleMath.delayed(reducedAmax(), fp8Max, recipe.margin(), scale);
    }

    /** The window reduced by the recipe's algorithm; 0 when empty. */
    public float reducedAmax() {
        if (filled == 0) return 0;
        if (recipe.amaxComputeAlgo() == AmaxAlgo.MOST_RECENT) return window[(head - 1 + window.length) % window.length];
        float m = 0;
        for (int k = 0; k < filled; k++) m = Math.max(m, window[k]);
        return m;
    }

    /** The amaxes in the window, oldest first. */
    public float[] history() {
        float[] h = new float[filled];
        int start = (head - filled + window.length) % window.length;
        for (int k = 0; k < filled; k++) h[k] = window[(start + k) % window.length];
        return h;
    }

    public int nonFinite() {
        return nonFinite;
    }

    /**
     * The whole state as floats: window (length {@code amaxHistoryLen}), head, filled, scale, non-finite count.
     * Integers up to 2^24 are exact in FP32 and the rest are FP32 values, so a restore is bit-identical.
     */
    public float[] toArray() {
        float[] a = Arrays.copyOf(window, window.length + 4);
        a[window.length] = head;
        a[window.length + 1] = filled;
        a[window.length + 2] = scale;
        a[window.length + 3] = nonFinite;
        return a;
    }

    /** Restores what {@link #toArray()} saved; the window length must match the recipe's. */
    public void load(float[] a) {
        if (a.length != window.length + 4) {
            throw new IllegalArgumentException("amax history: saved state has " + (a.length - 4) + " entries, the recipe's window is "
                    + window.length);
        }
        System.arraycopy(a, 0, window, 0, window.length);
        head = (int) a[window.length];
        filled = (int) a[window.length + 1];
        scale = a[window.length + 2];
        nonFinite = (int) a[window.length + 3];
        if (head < 0 || head >= window.length || filled < 0 || filled > window.length) {
            throw new IllegalArgumentException("amax history: saved head " + head + " / filled " + filled + " outside the window of " + window.length);
        }
    }
}
