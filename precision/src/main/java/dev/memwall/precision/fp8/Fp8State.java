package dev.memwall.precision.fp8;

import dev.memwall.autograd.Tensor;

import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * The mutable side of an FP8 recipe: for delayed scaling, one {@link AmaxHistory} per tensor role per layer, named
 * {@code gemm<N>.<role>} with N the order in which layers' weights are first seen (forward order, the same on every
 * run of the same model). The stateless recipes (current, MXFP8, block) keep nothing here. Save with
 * {@link #toArrays()} and resume with {@link #load(Map)} before the first step: entries are picked up as layers
 * appear, and the restored histories are bit-identical.
 */
public final class Fp8State {
    private final Fp8Recipe recipe;
    private final Map<Tensor, String> layers = new IdentityHashMap<>();
    private final Map<String, AmaxHistory> histories = new LinkedHashMap<>();
    private final Map<String, float[]> pending = new LinkedHashMap<>();

    public Fp8State(Fp8Recipe recipe) {
        this.recipe = Objects.requireNonNull(recipe, "recipe");
    }

    public Fp8Recipe recipe() {
        return recipe;
    }

    /** The name of the layer whose weight is {@code weight}, given on first sight. */
    public synchronized String layer(Tensor weight) {
        return layers.computeIfAbsent(weight, w -> "gemm" + layers.size());
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
