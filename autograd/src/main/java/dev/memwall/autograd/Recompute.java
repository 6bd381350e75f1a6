package dev.memwall.autograd;

import dev.memwall.memory.MemoryTracker;
import dev.memwall.memory.Phase;
import dev.memwall.ops.F;
import dev.memwall.rng.Rng;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * Selective recomputation: values that are cheap to compute but expensive to keep are dropped after the forward pass
 * and computed again, from the values they were made of, when backward needs them (Megatron-LM's selective
 * recomputation, at the granularity of single values rather than whole layers).
 *
 * <p>Model code marks such values with {@link #of}: {@code h = Recompute.of(in -> ln1.forward(in[0]), x)}. Outside a
 * {@link Session} that is just {@code ln1.forward(x)}. Inside one, every node that saves {@code h} (or a view of it)
 * stores a recipe instead — the function and its inputs — and the inputs are kept; an input that is itself marked is
 * referred to by its recipe, so chains of cheap values (layer norm → residual add → layer norm) keep only where they
 * start. When backward unpacks a recipe, it runs the function again under no-grad (with grad under
 * {@code createGraph}, so second-order gradients flow through it) with the random generators put back where they were,
 * and caches the result while other nodes still have to unpack it. Every cache and kept input is released when the
 * last node that needs it has run, so backward holds one value's worth of recomputation at a time, not a layer's.
 *
 * <p>Recomputation runs the same kernels on the same inputs, so the values are bitwise those of the forward pass.
 * Under saved-tensor hooks pushed before the session began ({@link CompressedActivations}), what the session keeps
 * itself — plain saves and the recipes' inputs — goes through those hooks; values are then recomputed from the
 * compressed inputs, as close to the forward pass's as the format allows.
 */
public final class Recompute {
    private static final ThreadLocal<ArrayDeque<Session>> ACTIVE = ThreadLocal.withInitial(ArrayDeque::new);
    /** Time spent recomputing on this thread, and the nesting depth (a value recomputed for another counts once). */
    private static final ThreadLocal<long[]> NANOS = ThreadLocal.withInitial(() -> new long[2]);

    private Recompute() {
    }

    /** {@code fn(inputs)}; inside a {@link Session}, marked to be recomputed instead of kept wherever it is saved. */
    public static Tensor of(Function<Tensor[], Tensor> fn, Tensor... inputs) {
        Session s = ACTIVE.get().peek();
        if (s == null || !GradMode.isEnabled()) return fn.apply(inputs);
        return s.record(fn, inputs);
    }

    /**
     * Whether {@code t} is (a view of) a value marked in the session open on this thread, or one the session keeps in
     * full as a marked value's input: a value derived from it by a cheap op (a format cast) can then be marked too,
     * instead of being kept besides it where a node saves it.
     */
    public static boolean marks(Tensor t) {
        Session s = ACTIVE.get().peek();
        return s != null && GradMode.isEnabled() && (s.recipes.containsKey(t.storage()) || s.inputs.containsKey(t.storage()));
    }

    /**
     * Starts marking values for recomputation on this thread until the session closes. {@code rngs} are the generators
     * the marked functions draw from besides {@link Rng#defaultRng()} (dropout), restored for each recomputation.
     */
    public static Session begin(List<Rng> rngs) {
        Session s = new Session(rngs, SavedTensorHooks.current());
        ACTIVE.get().push(s);
        s.hooks = SavedTensorHooks.push(s);
        return s;
    }

    /** Nanoseconds this thread has spent recomputing marked values (for profiling). */
    public static long nanos() {
        return NANOS.get()[0];
    }

    /** A saved reference: either an ordinary saved tensor, or (once its storage turns out to be marked) a recipe. */
    private static final class Ref {
        Tensor tensor;
        /** An ordinary save made inside a marked function, handed to the compressing hooks once it is known not to be the value. */
        Delegated delegated;
        Recipe recipe;
        int offset;
        int[] shape;
        /** Whether the saved tensor had a producer (the value itself, or a reshape of it) rather than being a raw view. */
        boolean history;
        /**
         * While its frame is open: the tensor the node saved as {@link #tensor} — itself, or the FP32 original of a
         * low-format copy autocast had it keep — so that a save of the frame's result is recognised either way.
         */
        Tensor source;
    }

    /** How to compute one marked value again, and its cached result while nodes still need it. */
    private static final class Recipe {
        final Function<Tensor[], Tensor> fn;
        final Object[] inputs; // a kept Tensor (saved for backward), a Delegated one, or a Ref to another recipe
        final List<Rng.State> states;
        final int[] shape;
        final int offset;
        int packs;      // nodes' references not yet released
        int dependents; // recipes reading this one that are not yet released
        boolean released;
        Tensor cached;

        Recipe(Function<Tensor[], Tensor> fn, Object[] inputs, List<Rng.State> states, Tensor y) {
            this.fn = fn;
            this.inputs = inputs;
            this.states = states;
            this.shape = y.shape();
            this.offset = y.offset();
        }
    }

    /**
     * A value a node saves plainly, handed to the hooks that were active when the session began (compressed
     * activations): what they packed, or, when they kept a tensor, the session's own saved handle to it.
     */
    private static final class Delegated {
        final SavedTensorHooks hooks;
        Object packed;
        Tensor held;

        Delegated(SavedTensorHooks hooks, Tensor t) {
            this.hooks = hooks;
            Object p = hooks.pack(t);
            if (p instanceof Tensor pt) { // kept as a tensor: hold it as a node would
                held = pt.saveForBackward();
                if (pt != t) pt.release();
            } else {
                packed = p;
            }
        }

        Tensor unpack() {
            return held != null ? held.share() : hooks.unpack(packed);
        }

        void release() {
            if (held != null) held.releaseSavedForBackward();
            else hooks.release(packed);
            held = null;
            packed = null;
        }
    }

    /** The saved-tensor hooks of one forward pass that marks values; close it when the forward pass is done. */
    public static final class Session implements SavedTensorHooks, AutoCloseable {
        private final List<Rng> rngs = new ArrayList<>();
        /** The hooks active when the session began, which decide how plainly saved values are kept; or null. */
        private final SavedTensorHooks outer;
        private final Map<Storage, Recipe> recipes = new IdentityHashMap<>();
        /** Storages the session keeps in full as recipes' inputs while the forward pass runs, with their keep counts. */
        private final Map<Storage, Integer> inputs = new IdentityHashMap<>();
        private final ArrayDeque<List<Ref>> frames = new ArrayDeque<>();
        private final List<Recipe> all = new ArrayList<>();
        private Guard hooks;
        private boolean open = true;

        private Session(List<Rng> extra, SavedTensorHooks outer) {
            this.outer = outer;
            rngs.add(Rng.defaultRng());
            for (Rng r : extra) if (!rngs.contains(r)) rngs.add(r);
        }

        Tensor record(Function<Tensor[], Tensor> fn, Tensor[] in) {
            Object[] kept = new Object[in.length];
            for (int k = 0; k < in.length; k++) {
                Recipe r = recipes.get(in[k].storage());
                if (r != null) {
                    r.dependents++;
                    kept[k] = ref(r, in[k]);
                } else if (outer == null) {
                    kept[k] = in[k].saveForBackward();
                    inputs.merge(in[k].storage(), 1, Integer::sum);
                } else { // under compressing hooks the input is kept as they keep saved tensors, and recomputed from that
                    kept[k] = new Delegated(outer, in[k]);
                }
            }
            List<Rng.State> states = new ArrayList<>(rngs.size());
            for (Rng g : rngs) states.add(g.state());
            frames.push(new ArrayList<>());
            Tensor y;
            List<Ref> pending;
            try {
                y = fn.apply(in);
            } catch (RuntimeException | Error e) {
                undo(kept);
                forget(kept);
                throw e;
            } finally {
                pending = frames.pop();
            }
            if (recipes.containsKey(y.storage())) { // fn returned (a view of) a value already marked
                undo(kept);
                forget(kept);
                settle(pending);
                return y;
            }
            Recipe r = new Recipe(fn, kept, states, y);
            recipes.put(y.storage(), r);
            all.add(r);
            // Nodes inside fn that saved its own result (a softmax saves its output) now refer to the recipe instead.
            for (Ref p : pending) {
                if (p.tensor != null && p.source.storage() == y.storage()) {
                    p.offset = p.source.offset() - y.offset();
                    p.shape = p.source.shape();
                    p.history = p.source.gradFn != null;
                    p.source = null;
                    p.tensor.releaseSavedForBackward();
                    p.tensor = null;
                    p.recipe = r;
                    r.packs++;
                }
            }
            settle(pending);
            return y;
        }

        /** Saves made inside a finished frame that were not its result belong to the frame around it, if any. */
        private void settle(List<Ref> pending) {
            List<Ref> enclosing = frames.peek();
            if (enclosing == null) {
                for (Ref p : pending) p.source = null;
                if (outer == null) return;
                for (Ref p : pending) { // ordinary saves after all: kept as the outer hooks keep them
                    if (p.tensor == null) continue;
                    p.delegated = new Delegated(outer, p.tensor);
                    p.tensor.releaseSavedForBackward();
                    p.tensor = null;
                }
                return;
            }
            for (Ref p : pending) if (p.tensor != null) enclosing.add(p);
        }

        /** {@code kept} no longer holds its inputs for a recipe. */
        private void forget(Object[] kept) {
            for (Object o : kept) if (o instanceof Tensor t) inputs.computeIfPresent(t.storage(), (k, n) -> n == 1 ? null : n - 1);
        }

        private void undo(Object[] kept) {
            for (Object o : kept) {
                if (o instanceof Tensor t) t.releaseSavedForBackward();
                else if (o instanceof Delegated d) d.release();
                else ((Ref) o).recipe.dependents--;
            }
        }

        private static Ref ref(Recipe r, Tensor t) {
            Ref ref = new Ref();
            ref.recipe = r;
            ref.offset = t.offset() - r.offset;
            ref.shape = t.shape();
            ref.history = t.gradFn != null;
            return ref;
        }

        @Override
        public Object pack(Tensor t) {
            return packLowered(t, t);
        }

        /**
         * A marked value is recognised by the original's storage: under autocast a node may save a low-format copy
         * ({@link CastPolicy#saved}), which is a new tensor. The value is then recomputed in FP32 and the node rounds it
         * as it rounded the copy; anything else keeps {@code low}, the copy the node would have kept.
         */
        @Override
        public Object packLowered(Tensor original, Tensor low) {
            Recipe r = recipes.get(original.storage());
            if (r != null) {
                r.packs++;
                return ref(r, original);
            }
            // A recipe keeps the original in full to recompute from it (bitwise as in the forward pass); a node saving
            // a low copy of it would keep the same values twice. It shares the full one and rounds it when it reads.
            Tensor kept = low != original && inputs.containsKey(original.storage()) ? original : low;
            List<Ref> frame = frames.peek();
            if (frame == null) { // an ordinary save; a handle of the node's own when it is not the tensor it passed
                if (outer != null) return new Delegated(outer, kept);
                return kept == low ? low : original.alias();
            }
            Ref p = new Ref();
            p.tensor = kept.saveForBackward();
            p.source = original;
            frame.add(p);
            return p;
        }

        @Override
        public Tensor unpack(Object packed) {
            if (packed instanceof Tensor t) return t;
            if (packed instanceof Delegated d) return d.unpack();
            Ref p = (Ref) packed;
            if (p.tensor != null) return p.tensor.share();
            if (p.delegated != null) return p.delegated.unpack();
            return materialize(p);
        }

        @Override
        public void release(Object packed) {
            if (packed instanceof Delegated d) {
                d.release();
                return;
            }
            Ref p = (Ref) packed;
            if (p.tensor != null) {
                p.tensor.releaseSavedForBackward();
                p.tensor = null;
                return;
            }
            if (p.delegated != null) {
                p.delegated.release();
                p.delegated = null;
                return;
            }
            Recipe r = p.recipe;
            r.packs--;
            if (r.packs == 0 && r.cached != null) {
                r.cached.releaseSavedForBackward();
                r.cached = null;
            }
            maybeRelease(r);
        }

        /** The value {@code p} refers to, recomputed unless cached; a fresh handle the caller releases. */
        private Tensor materialize(Ref p) {
            Recipe r = p.recipe;
            if (r.released) throw new IllegalStateException("a recomputed value was needed after it was released");
            Tensor full;
            if (r.cached != null) {
                full = r.cached.share();
            } else {
                Tensor y = compute(r);
                if (r.packs > 0) { // other nodes will unpack it too: keep it until the last one has
                    r.cached = y.saveForBackward();
                    y.release();
                    full = r.cached.share();
                } else {
                    full = y;
                }
            }
            return viewOf(full, p, r);
        }

        /**
         * The part of a recomputed value that {@code p} was saved as, consuming {@code full}. When backward builds a
         * graph (createGraph: grad mode is on) the result must have the history the saved tensor had in the forward
         * pass, or the second derivatives through it silently vanish: the value itself has the recomputation's
         * history, a reshape of it gets a reshape node, and a raw view (no history then) stays a constant. A part of
         * the value with history that is not a reshape cannot be rebuilt, and says so.
         */
        private static Tensor viewOf(Tensor full, Ref p, Recipe r) {
            boolean whole = p.offset == 0 && java.util.Arrays.equals(p.shape, r.shape);
            boolean graph = GradMode.isEnabled() && full.requiresGrad();
            if (whole && (p.history || !graph)) return full;
            Tensor v;
            if (!graph || !p.history) {
                v = Tensor.view(full, p.offset, p.shape); // no history, as the tensor the node saved
            } else if (p.offset == 0 && Shape.numel(p.shape) == Shape.numel(r.shape)) {
                v = F.reshape(full, p.shape);
            } else {
                full.release();
                throw new IllegalStateException("a node saved a view " + Shape.str(p.shape) + " at offset " + p.offset
                        + " of a recomputed value " + Shape.str(r.shape) + "; under createGraph its history cannot be "
                        + "rebuilt, so second derivatives through it would be lost. Save the value whole or a reshape of it");
            }
            full.release();
            return v;
        }

        private Tensor compute(Recipe r) {
            long t0 = System.nanoTime();
            long[] clock = NANOS.get();
            clock[1]++;
            boolean create = GradMode.isEnabled(); // the engine enables grad mode exactly when building a graph of backward
            Tensor[] in = new Tensor[r.inputs.length];
            List<Rng.State> now = new ArrayList<>(rngs.size());
            for (Rng g : rngs) now.add(g.state());
            MemoryTracker tracker = MemoryTracker.current();
            Phase previous = tracker.phase(Phase.RECOMPUTE);
            try {
                for (int k = 0; k < in.length; k++) {
                    Object o = r.inputs[k];
                    in[k] = o instanceof Tensor t ? t.share() : o instanceof Delegated d ? d.unpack() : materialize((Ref) o);
                }
                for (int k = 0; k < rngs.size(); k++) rngs.get(k).restore(r.states.get(k));
                Tensor y;
                try (var mode = GradMode.set(create)) {
                    y = r.fn.apply(in);
                }
                if (!java.util.Arrays.equals(y.shape(), r.shape)) {
                    throw new IllegalStateException("a recomputed value has shape " + Shape.str(y.shape()) + " but "
                            + Shape.str(r.shape) + " in the forward pass: the function must do the same work both times");
                }
                return y;
            } finally {
                for (Tensor t : in) if (t != null) t.releaseIfAlive();
                for (int k = 0; k < rngs.size(); k++) rngs.get(k).restore(now.get(k));
                tracker.phase(previous);
                if (--clock[1] == 0) clock[0] += System.nanoTime() - t0;
            }
        }

        private void maybeRelease(Recipe r) {
            if (open || r.released || r.packs > 0 || r.dependents > 0) return;
            r.released = true;
            for (Object o : r.inputs) {
                if (o instanceof Tensor t) {
                    t.releaseSavedForBackward();
                } else if (o instanceof Delegated d) {
                    d.release();
                } else {
                    Recipe d = ((Ref) o).recipe;
                    d.dependents--;
                    maybeRelease(d);
                }
            }
        }

        /** Ends the forward pass: stops marking, and releases the inputs of values that no node saved. */
        @Override
        public void close() {
            if (!open) return;
            ArrayDeque<Session> stack = ACTIVE.get();
            if (stack.peek() != this) throw new IllegalStateException("recompute sessions must be closed innermost first");
            stack.pop();
            hooks.close();
            open = false;
            recipes.clear();
            inputs.clear();
            for (Recipe r : all) maybeRelease(r);
            all.clear();
        }
    }
}
