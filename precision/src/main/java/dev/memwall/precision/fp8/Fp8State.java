package dev.memwall.precision.fp8;

import dev.memwall.autograd.Tensor;

import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * The mutable side of an FP8 recipe: for delayed scaling, one {@link AmaxHistory} per tensor role per layer, named
 * {@code gemm<N>.<role>} with N the order in which layers' weights are first seen (forward order, the same on every
 * run of the same model). The stateless recipes (current, MXFP8, block) keep nothing here. Save with
 * {@link #toArrays()} and resume with {@link #load(Map)} before the first step: entries are picked up as layers
 * appear, and the restored histories are bit-identical.
 *
 * <p><b>Sharded weights</b> (ZeRO stage 3): a {@link WeightSource} hands {@link Fp8Linear} weights that arrive
 * quantized (gathered in FP8 after the ranks agreed on their amax), and names the stable parameter behind each
 * freshly gathered weight, so a layer keeps its name and histories from gather to gather. With
 * {@link #deferRecords(boolean)} the activations' and gradients' amaxes are not recorded at once but kept in call order
 * until {@link #pendingAmaxes()} / {@link #recordAgreed(float[])}: the caller agrees them over the ranks (a maximum),
 * so every rank records the amax of the whole global batch, what one process would have seen.
 */
public final class Fp8State {
    private final Fp8Recipe recipe;
    private final Map<Tensor, String> layers = new IdentityHashMap<>();
    private final Map<String, AmaxHistory> histories = new LinkedHashMap<>();
    private final Map<String, float[]> pending = new LinkedHashMap<>();
    private WeightSource weights;
    private boolean defer;
    private final List<AmaxHistory> deferredHistories = new ArrayList<>();
    private float[] deferredAmaxes = new float[16];

    /** Where weights that arrive already quantized come from (ZeRO stage 3's FP8 gathers). */
    public interface WeightSource {
        /** The stable tensor (the parameter's leaf) that {@code weight} stands for, or null if it is its own. */
        Tensor identity(Tensor weight);

        /**
         * {@code weight}'s FP8 quantization for this use (fresh handles the caller releases), or null to quantize it
         * from its FP32 values. A supplied weight's WEIGHT history, under delayed scaling, is the source's to record.
         */
        Fp8Tensor quantized(Tensor weight);

        /**
         * Whether a node should save {@code weight} itself and quantize it column-wise in backward (MXFP8 at ZeRO stage
         * 3, where backward gathers the weight in FP32) rather than save forward's column-wise codes.
         */
        default boolean quantizedInBackward(Tensor weight) {
            return false;
        }
    }

    public Fp8State(Fp8Recipe recipe) {
        this.recipe = Objects.requireNonNull(recipe, "recipe");
    }

    public Fp8Recipe recipe() {
        return recipe;
    }

    /** The name of the layer whose weight is {@code weight} (or the parameter it stands for), given on first sight. */
    public synchronized String layer(Tensor weight) {
        Tensor key = weights == null ? null : weights.identity(weight);
        return layers.computeIfAbsent(key == null ? weight : key, w -> "gemm" + layers.size());
    }

    /** Installs (or with null removes) the source of pre-quantized weights. */
    public synchronized void weightSource(WeightSource source) {
        weights = source;
    }

    /** The quantization the weight source supplies for {@code weight}, or null (none installed, or not its weight). */
    public Fp8Tensor suppliedWeight(Tensor weight) {
        WeightSource s;
        synchronized (this) {
            s = weights;
        }
        return s == null ? null : s.quantized(weight);
    }

    /** Whether the weight source has {@code weight} saved whole and quantized column-wise in backward (MXFP8). */
    public boolean weightQuantizedInBackward(Tensor weight) {
        WeightSource s;
        synchronized (this) {
            s = weights;
        }
        return s != null && s.quantizedInBackward(weight);
    }

    /**
     * Whether {@link #record} keeps activation and gradient amaxes pending until {@link #recordAgreed} (a sharded run
     * agreeing them over ranks); off records at once.
     */
    public synchronized void deferRecords(boolean on) {
        if (!on && !deferredHistories.isEmpty()) throw new IllegalStateException("fp8 state: " + deferredHistories.size()
                + " amax records are still pending");
        defer = on;
    }

    /** Records {@code amax} into {@code h} now, or, while records are deferred, keeps it pending in call order. */
    public synchronized void record(AmaxHistory h, float amax) {
        if (!defer) {
            h.record(amax);
            return;
        }
        if (deferredHistories.size() == deferredAmaxes.length) deferredAmaxes = java.util.Arrays.copyOf(deferredAmaxes, 2 * deferredAmaxes.length);
        deferredAmaxes[deferredHistories.size()] = amax;
        deferredHistories.add(h);
    }

    /** The pending amaxes in call order (a copy): what the ranks agree on. */
    public synchronized float[] pendingAmaxes() {
        return java.util.Arrays.copyOf(deferredAmaxes, deferredHistories.size());
    }

    /** Records the agreed amaxes (one per pending record, same order) into their histories, and clears the pending. */
    public synchronized void recordAgreed(float[] agreed) {
        if (agreed.length != deferredHistories.size()) {
            throw new IllegalArgumentException("fp8 state: " + agreed.length + " agreed amaxes for " + deferredHistories.size()
                    + " pending records");
        }
        for (int i = 0; i < agreed.length; i++) deferredHistories.get(i).record(agreed[i]);
        deferredHistories.clear();
    }

    /** The delayed-scaling history of {@code role} in {@code layer}; the recipe must be {@link DelayedScaling}. */
    public synchronized AmaxHistory history(String layer, TensorRole role) {
        if (!(recipe instanceof DelayedScaling d)) {
            throw new IllegalStateException("amax histories belong to delayed scaling, the recipe is " + recipe.name());
        }
        String key = layer + "." + role.key;
        AmaxHistory h = histories.get(key);
        if (h == null) {
            h = new AmaxHistory(d, role.formatUnder(d.format()));
            float[] saved = pending.remove(key);
            if (saved != null) h.load(saved);
            histories.put(key, h);
        }
        return h;
    }

    /** Every history by name, as {@link AmaxHistory#toArray()} (restored entries not yet used included). */
    public synchronized Map<String, float[]> toArrays() {
        Map<String, float[]> out = new LinkedHashMap<>();
        histories.forEach((k, h) -> out.put(k, h.toArray()));
        pending.forEach((k, a) -> out.put(k, a.clone()));
        return out;
    }

    /** Resumes from {@link #toArrays()}. Must come before the histories are first used. */
    public synchronized void load(Map<String, float[]> saved) {
        if (!histories.isEmpty()) throw new IllegalStateException("fp8 state: load before the first step, histories are already in use");
        if (!(recipe instanceof DelayedScaling d) ) {
            if (!saved.isEmpty()) throw new IllegalArgumentException("fp8 state: saved amax histories, but the recipe is " + recipe.name());
            return;
        }
        saved.forEach((k, a) -> {
            if (a.length != d.amaxHistoryLen() + 4) {
                throw new IllegalArgumentException("fp8 state: " + k + " holds a window of " + (a.length - 4) + ", the recipe's is "
                        + d.amaxHistoryLen());
            }
            pending.put(k, a.clone());
        });
    }
}
