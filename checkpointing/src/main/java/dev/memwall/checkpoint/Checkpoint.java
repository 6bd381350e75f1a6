package dev.memwall.checkpoint;

import dev.memwall.autograd.GradMode;
import dev.memwall.autograd.SavedTensorHooks;
import dev.memwall.autograd.Tensor;
import dev.memwall.memory.MemoryTracker;
import dev.memwall.memory.Phase;
import dev.memwall.rng.Rng;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

/**
 * Activation checkpointing with PyTorch's non-reentrant semantics, built on saved-tensor hooks.
 *
 * <p>{@link #apply} runs {@code fn} normally — the autograd graph is recorded as usual — but every tensor a node in
 * the region saves is replaced by a placeholder, and only the region's inputs are kept (as ACTIVATION). They are
 * kept from the first tensor the region saves, so a region that saves nothing keeps nothing, and released at once if
 * {@code fn} throws (its partial graph cannot be differentiated). When backward first needs one of the placeholders,
 * the region is run again from the kept inputs with the random generators put back where they were (identical
 * dropout masks), and the tensors it saves fill the placeholders in order. Each is released once the node that
 * needed it has run, so backward holds one region's activations at a time.
 *
 * <p>Under {@code createGraph} the recomputation records its own graph on the inputs' history, so second-order
 * gradients flow through checkpointed regions; regions may be nested.
 */
public final class Checkpoint {
    private Checkpoint() {
    }

    /**
     * {@code fn(inputs)} with its saved activations recomputed in backward instead of kept. {@code rngs} are the
     * generators {@code fn} draws from besides {@link Rng#defaultRng()} (which is always restored).
     */
    public static Tensor apply(Function<Tensor[], Tensor> fn, List<Rng> rngs, Tensor... inputs) {
        if (!GradMode.isEnabled()) return fn.apply(inputs);
        Frame frame = new Frame(fn, rngs, inputs);
        try (var hooks = SavedTensorHooks.push(frame)) {
            return fn.apply(inputs);
        } catch (RuntimeException | Error e) {
            frame.abandon(); // the partial graph can never be differentiated: do not keep the inputs for it
            throw e;
        }
    }

    public static Tensor apply(Function<Tensor[], Tensor> fn, Tensor... inputs) {
        return apply(fn, List.of(), inputs);
    }

    /** A module-style wrapper: {@code Checkpoint.wrap(block::forward).apply(x)}. */
    public static Function<Tensor, Tensor> wrap(Function<Tensor, Tensor> forward) {
        return x -> apply(in -> forward.apply(in[0]), List.of(), x);
    }

    /** Stands in for a saved tensor of a region until the region is recomputed. */
    private record Placeholder(int index) {
    }

    /** The recipe for one checkpointed region and, once recomputed, its saved tensors. */
    private static final class Frame implements SavedTensorHooks {
        private final Function<Tensor[], Tensor> fn;
        private final List<Rng> rngs = new ArrayList<>();
        private final List<Rng.State> states = new ArrayList<>();
        /** The caller's handles to the region's inputs; not owned. */
        private final Tensor[] given;
        /** The frame's own handles to the inputs (ACTIVATION), from the first pack until the last placeholder goes. */
        private Tensor[] inputs;
        private boolean abandoned;
        private int packed;
        private int live;
        private Tensor[] recomputed;

        Frame(Function<Tensor[], Tensor> fn, List<Rng> extra, Tensor[] in) {
            this.fn = fn;
            rngs.add(Rng.defaultRng());
            for (Rng r : extra) if (!rngs.contains(r)) rngs.add(r);
            for (Rng r : rngs) states.add(r.state());
            this.given = in.clone();
        }

        @Override
        public Object pack(Tensor t) {
            if (inputs == null && !abandoned) {
                inputs = new Tensor[given.length];
                for (int k = 0; k < given.length; k++) inputs[k] = given[k].saveForBackward();
            }
            live++;
            return new Placeholder(packed++);
        }

        @Override
        public Tensor unpack(Object p) {
            if (abandoned) throw new IllegalStateException("a checkpointed region whose function threw cannot be differentiated");
            if (recomputed == null) recompute();
            Tensor t = recomputed[((Placeholder) p).index()];
            if (t == null) throw new IllegalStateException("checkpointed tensor " + ((Placeholder) p).index() + " was already released");
            return t.share();
        }

        @Override
        public void release(Object p) {
            if (--live > 0) return;
            dropKept();
        }

        /** {@code fn} threw: nothing can unpack, so what the frame keeps goes now; placeholders still count down. */
        void abandon() {
            abandoned = true;
            dropKept();
        }

        private void dropKept() {
            if (recomputed != null) for (Tensor t : recomputed) if (t != null) t.releaseSavedForBackward();
            recomputed = null;
            if (inputs != null) for (Tensor t : inputs) t.releaseSavedForBackward();
            inputs = null;
        }

        /** Runs the region again from its inputs, with the generators where they were, collecting what it saves. */
        private void recompute() {
            boolean create = GradMode.isEnabled(); // the engine enables grad mode exactly when building a graph of backward
            List<Rng.State> now = new ArrayList<>();
            for (Rng r : rngs) now.add(r.state());
            for (int k = 0; k < rngs.size(); k++) rngs.get(k).restore(states.get(k));
            MemoryTracker tracker = MemoryTracker.current();
            Phase previous = tracker.phase(Phase.RECOMPUTE);
            List<Tensor> collected = new ArrayList<>(packed);
            Tensor[] in = new Tensor[inputs.length];
            for (int k = 0; k < in.length; k++) {
                // With createGraph the inputs keep their history (second order flows through them); otherwise the
                // recomputation only has to record nodes so that they save, and detached leaves are enough.
                in[k] = create ? inputs[k].share() : inputs[k].detach().requiresGrad(inputs[k].dtype().isFloating());
            }
            SavedTensorHooks collector = new SavedTensorHooks() {
                @Override
                public Object pack(Tensor t) {
                    collected.add(t.saveForBackward());
                    // Under createGraph the recomputed graph is differentiated again, so its nodes keep what they save.
                    return create ? t : Boolean.TRUE;
                }

                @Override
                public Tensor unpack(Object packedValue) {
                    if (packedValue instanceof Tensor t) return t; // createGraph: an ordinary saved tensor
                    throw new IllegalStateException("the recomputed graph of a checkpoint is only differentiated under createGraph");
                }
            };
            try (var grad = GradMode.enableGrad(); var hooks = SavedTensorHooks.push(collector)) {
                Tensor y = fn.apply(in);
                y.release();
            } finally {
                for (Tensor t : in) t.releaseIfAlive();
                for (int k = 0; k < rngs.size(); k++) rngs.get(k).restore(now.get(k));
                tracker.phase(previous);
            }
            if (collected.size() != packed) {
                for (Tensor t : collected) t.releaseSavedForBackward();
                throw new IllegalStateException("a checkpointed region saved " + collected.size() + " tensors when recomputed but "
                        + packed + " in the forward pass: the function must do the same work both times");
            }
            recomputed = collected.toArray(new Tensor[0]);
        }
    }
}
