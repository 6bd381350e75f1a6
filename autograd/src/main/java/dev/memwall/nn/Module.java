package dev.memwall.nn;

import dev.memwall.autograd.DType;
import dev.memwall.autograd.FlatBuffer;
import dev.memwall.autograd.Tensor;
import dev.memwall.memory.Category;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A layer with named parameters and child modules, named as in PyTorch ("blocks.0.ln1.weight"), so a state dict
 * written by the equivalent PyTorch model loads by name.
 *
 * <p>Parameters are looked up by name on every forward (a map lookup, nothing next to a GEMM) so that
 * {@link #flatten()} can move them into one flat buffer without the layers noticing.
 */
public abstract class Module {
    private final Map<String, Tensor> params = new LinkedHashMap<>();
    private final Map<String, Module> children = new LinkedHashMap<>();
    private boolean training = true;

    /** Registers a parameter: counted as PARAMETER, requires a gradient. {@code init} is copied into it. */
    protected final Tensor param(String name, Tensor init) {
        Tensor p = Tensor.empty(DType.FP32, Category.PARAMETER, "param", init.shape());
        System.arraycopy(init.data(), init.offset(), p.data(), 0, init.numel());
        init.release();
        p.requiresGrad(true).name(name);
        params.put(name, p);
        return p;
    }

    protected final <M extends Module> M child(String name, M m) {
        children.put(name, m);
        return m;
    }

    /**
     * Adopts {@code m}'s children as this module's own, so their names carry no extra level: a Block holds its
     * attention's {@code qkv} as {@code blocks.0.qkv}, as the PyTorch model does. {@code m} itself keeps working.
     */
    protected final <M extends Module> M inline(M m) {
        Module mm = m;
        if (!mm.params.isEmpty()) throw new IllegalArgumentException("only parameter-free modules can be inlined");
        mm.children.forEach(this::child);
        return m;
    }

    /** This module's own parameter {@code name}. */
    protected final Tensor p(String name) {
        Tensor t = params.get(name);
        if (t == null) throw new IllegalArgumentException(getClass().getSimpleName() + " has no parameter " + name);
        return t;
    }

    public final Map<String, Tensor> namedParameters() {
        Map<String, Tensor> out = new LinkedHashMap<>();
        collect("", out);
        return out;
    }

    private void collect(String prefix, Map<String, Tensor> out) {
        params.forEach((n, t) -> out.put(prefix + n, t));
        children.forEach((n, m) -> m.collect(prefix + n + ".", out));
    }

    /**
     * Replaces parameter {@code name} (its full dotted name, as in {@link #namedParameters()}) by {@code t} of the
     * same shape; the old tensor is not released. ZeRO stage 3 swaps in a gathered view before a unit runs and a
     * released stand-in after, so a use of a parameter that is not gathered fails naming it.
     */
    public final void setParameter(String name, Tensor t) {
        int dot = name.indexOf('.');
        if (dot >= 0 && children.containsKey(name.substring(0, dot))) {
            children.get(name.substring(0, dot)).setParameter(name.substring(dot + 1), t);
            return;
        }
        Tensor old = params.get(name);
        if (old == null) throw new IllegalArgumentException(getClass().getSimpleName() + " has no parameter " + name);
        if (!Arrays.equals(old.shape(), t.shape())) {
            throw new IllegalArgumentException("parameter " + name + " has shape " + Arrays.toString(old.shape()) + ", not " + Arrays.toString(t.shape()));
        }
        params.put(name, t);
    }

    public final List<Tensor> parameters() {
        return new ArrayList<>(namedParameters().values());
    }

    public final long parameterCount() {
        long n = 0;
        for (Tensor t : parameters()) n += t.numel();
        return n;
    }

    /** The parameters by name (the tensors themselves, not copies). */
    public final Map<String, Tensor> stateDict() {
        return namedParameters();
    }

    /**
     * Copies values into the parameters by name. Every name must exist with the same shape, and every parameter must
     * be given: the first problem is reported by name and nothing is copied.
     */
    public final void loadStateDict(Map<String, Tensor> state) {
        Map<String, Tensor> mine = namedParameters();
        for (String name : mine.keySet()) {
            if (!state.containsKey(name)) throw new IllegalArgumentException("missing parameter in state dict: " + name);
        }
        for (Map.Entry<String, Tensor> e : state.entrySet()) {
            Tensor p = mine.get(e.getKey());
            if (p == null) throw new IllegalArgumentException("unexpected parameter in state dict: " + e.getKey());
            if (!Arrays.equals(p.shape(), e.getValue().shape())) {
                throw new IllegalArgumentException("parameter " + e.getKey() + " has shape " + Arrays.toString(p.shape())
                        + " in the model but " + Arrays.toString(e.getValue().shape()) + " in the state dict");
            }
        }
        for (Map.Entry<String, Tensor> e : state.entrySet()) {
            Tensor p = mine.get(e.getKey());
            float[] src = e.getValue().toFloatArray();
            System.arraycopy(src, 0, p.data(), p.offset(), src.length);
        }
    }

    public final void zeroGrad() {
        for (Tensor t : parameters()) t.zeroGrad();
    }

    public final Module train(boolean on) {
        training = on;
        children.values().forEach(c -> c.train(on));
        return this;
    }

    public final boolean isTraining() {
        return training;
    }

    /**
     * Moves every parameter into one flat PARAMETER buffer and gives each a gradient view into one flat GRADIENT
     * buffer, in {@link #namedParameters()} order. Returns the two buffers.
     */
    public final FlatParameters flatten() {
        return flatten(1);
    }

    /**
     * {@link #flatten()} with both buffers padded with zeros to a multiple of {@code multiple} elements, so that N
     * ranks can split them into N equal shards (ZeRO). The padding belongs to no parameter and stays zero.
     */
    public final FlatParameters flatten(int multiple) {
        if (multiple < 1) throw new IllegalArgumentException("flatten: multiple " + multiple + " < 1");
        Map<String, Tensor> named = namedParameters();
        long count = 0;
        for (Tensor t : named.values()) count += t.numel();
        int total = Math.toIntExact((count + multiple - 1) / multiple * multiple);
        FlatBuffer values = new FlatBuffer(DType.FP32, Category.PARAMETER, total, "flat_params");
        FlatBuffer grads = new FlatBuffer(DType.FP32, Category.GRADIENT, total, "flat_grads");
        List<FlatParameters.Entry> entries = new ArrayList<>();
        replaceAll("", values, grads, entries);
        return new FlatParameters(values, grads, entries);
    }

    private void replaceAll(String prefix, FlatBuffer values, FlatBuffer grads, List<FlatParameters.Entry> entries) {
        for (Map.Entry<String, Tensor> e : params.entrySet()) {
            Tensor old = e.getValue();
            int offset = values.used();
            Tensor v = values.allocate(old.shape());
            System.arraycopy(old.data(), old.offset(), v.data(), v.offset(), old.numel());
            v.requiresGrad(true).name(old.name());
            v.grad(grads.allocate(old.shape()));
            old.grad(null);
            old.release();
            e.setValue(v);
            entries.add(new FlatParameters.Entry(prefix + e.getKey(), offset, old.shape()));
        }
        for (Map.Entry<String, Module> c : children.entrySet()) c.getValue().replaceAll(prefix + c.getKey() + ".", values, grads, entries);
    }
}
