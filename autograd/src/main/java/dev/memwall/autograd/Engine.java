package dev.memwall.autograd;

import dev.memwall.kernels.Elementwise;
import dev.memwall.memory.Category;
import dev.memwall.memory.MemoryTracker;
import dev.memwall.memory.Phase;
import dev.memwall.ops.F;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.Collections;

/**
 * Runs backward: nodes in reverse topological order, each once, when all gradient flowing into it has arrived.
 * A node's saved tensors are freed right after it ran (unless the graph is retained), and every gradient handle is
 * released as soon as it has been passed on, so activation memory falls steadily during backward.
 */
public final class Engine {
    private Engine() {
    }

    /** {@code root.backward(grad)}: accumulates into {@code .grad()} of every leaf that requires a gradient. */
    static void backward(Tensor root, Tensor gradOutput, boolean retainGraph, boolean createGraph) {
        run(new Tensor[]{root}, new Tensor[]{gradOutput}, null, retainGraph || createGraph, createGraph, false);
    }

    /**
     * Gradients of {@code outputs} with respect to {@code inputs} (leaves or intermediate tensors), like
     * {@code torch.autograd.grad}: every path counts, also one that runs through another input. Nothing is accumulated
     * into {@code .grad()}. With {@code createGraph} the result is differentiable (and the graph is retained), which is
     * what a Hessian-vector product needs. The returned handles belong to the open scope.
     *
     * @param gradOutputs one per output, or null for all-ones on scalar outputs
     * @param allowUnused when false, an input the outputs do not depend on is an error; when true its gradient is null
     */
    public static Tensor[] grad(Tensor[] outputs, Tensor[] inputs, Tensor[] gradOutputs, boolean createGraph,
                                boolean retainGraph, boolean allowUnused) {
        Tensor[] r = run(outputs, gradOutputs, inputs, retainGraph || createGraph, createGraph, allowUnused);
        return r;
    }

    public static Tensor[] grad(Tensor[] outputs, Tensor[] inputs, Tensor[] gradOutputs, boolean createGraph) {
        return grad(outputs, inputs, gradOutputs, createGraph, createGraph, false);
    }

    public static Tensor grad(Tensor output, Tensor input, boolean createGraph) {
        return grad(new Tensor[]{output}, new Tensor[]{input}, null, createGraph)[0];
    }

    private static Tensor[] run(Tensor[] outputs, Tensor[] gradOutputs, Tensor[] inputs, boolean retain,
                                boolean create, boolean allowUnused) {
        MemoryTracker tracker = MemoryTracker.current();
        Phase previous = tracker.phase(tracker.phase() == Phase.RECOMPUTE ? Phase.RECOMPUTE : Phase.BACKWARD);
        try {
            return execute(outputs, gradOutputs, inputs, retain, create, allowUnused);
        } finally {
            tracker.phase(previous);
        }
    }

    private static Tensor[] execute(Tensor[] outputs, Tensor[] gradOutputs, Tensor[] inputs, boolean retain,
                                    boolean create, boolean allowUnused) {
        Map<Object, Integer> inputIndex = new IdentityHashMap<>();
        if (inputs != null) {
            for (int k = 0; k < inputs.length; k++) {
                if (!inputs[k].requiresGrad) throw new IllegalArgumentException("grad: input " + k + " does not require grad");
                inputIndex.putIfAbsent(key(inputs[k]), k);
            }
        }
        Tensor[] captured = inputs == null ? null : new Tensor[inputs.length];
        Map<Object, Tensor> pending = new IdentityHashMap<>();
        Tensor[] seeds = new Tensor[outputs.length];
        ReadyLeaves ready = null;
        try {
            // Seed: one gradient per output, keyed by the node (or leaf) it flows into.
            List<Node> roots = new ArrayList<>();
            for (int k = 0; k < outputs.length; k++) {
                Tensor out = outputs[k];
                out.checkAlive("backward");
                if (!out.requiresGrad) {
                    throw new IllegalStateException("element " + k + " of outputs does not require grad and has no grad_fn");
                }
                Tensor given = gradOutputs == null ? null : gradOutputs[k];
                if (given != null && !java.util.Arrays.equals(given.shape(), out.shape())) {
                    throw new IllegalArgumentException("backward: gradient shape " + Shape.str(given.shape())
                            + " does not match output shape " + Shape.str(out.shape()));
                }
                // share(), not alias(): the handle belongs to the open scope, so it is released even when it ends up
                // returned (an output that is also an input) or the run fails.
                seeds[k] = given == null ? seed(out) : given.share();
                if (out.gradFn != null) roots.add(out.gradFn);
            }

            List<Node> order = topologicalOrder(roots);
            if (inputs == null) ready = ReadyLeaves.of(outputs, order, create);
            for (int k = 0; k < outputs.length; k++) {
                Tensor g = seeds[k];
                seeds[k] = null;
                deliver(key(outputs[k]), g, pending, inputIndex, captured, create, ready);
            }
            Set<Node> reaching = inputs == null ? null : nodesReachingInputs(order, inputIndex);
            for (Node node : order) {
                Tensor g = pending.remove(node);
                if (g == null) {
                    if (ready != null) ready.skipAll(node);
                    continue;
                }
                boolean runs = reaching == null || reaching.contains(node);
                Integer in = inputIndex.get(node);
                if (in != null) {
                    // Every consumer of the node has run, so g is its whole gradient. Like torch.autograd.grad, the
                    // node still runs when another input lies behind it (grad wrt h = f(x) and x).
                    captured[in] = runs ? g.share() : g;
                    if (!runs) continue;
                } else if (!runs) {
                    g.releaseIfAlive(); // a node that does not run keeps what it saved
                    continue;
                }
                OpStats.Frame frame = OpStats.begin(node.name()); // the rule's own ops add their FLOPs and bytes
                Tensor[] grads;
                try {
                    grads = node.apply(g, create);
                } finally {
                    g.releaseIfAlive();
                    if (frame != null) frame.end(0, 0);
                }
                for (int k = 0; k < grads.length; k++) {
                    Tensor gk = grads[k];
                    Object edge = node.edges[k];
                    if (gk == null) {
                        if (ready != null) ready.skip(edge);
                        continue;
                    }
                    if (edge == null) {
                        gk.releaseIfAlive();
                    } else {
                        deliver(edge, gk, pending, inputIndex, captured, create, ready);
                    }
                }
                if (!retain) node.freeSaved();
            }
            if (inputs == null) return new Tensor[0];
            for (int k = 0; k < inputs.length; k++) {
                int first = inputIndex.get(key(inputs[k]));
                if (first != k && captured[first] != null) captured[k] = captured[first].share();
                if (captured[k] == null && !allowUnused) {
                    throw new IllegalStateException("grad: input " + k + " was not used to compute the outputs (pass allowUnused=true)");
                }
            }
            Tensor[] result = captured;
            captured = null;
            return result;
        } finally {
            for (Tensor left : pending.values()) left.releaseIfAlive();
            for (Tensor s : seeds) if (s != null) s.releaseIfAlive();
            if (ready != null) ready.releaseWaiting();
            if (captured != null) for (Tensor c : captured) if (c != null) c.releaseIfAlive(); // failed: nothing is returned
        }
    }

    private static Object key(Tensor t) {
        return t.gradFn != null ? t.gradFn : t.gradKey;
    }

    private static Tensor seed(Tensor out) {
        if (out.numel() != 1) {
            throw new IllegalStateException("backward: a gradient can be implicitly created only for a scalar output; output has shape "
                    + Shape.str(out.shape()));
        }
        return Tensor.full(1f, out.shape());
    }

    /**
     * Hands gradient {@code g} to a node (summed until the node runs), a leaf input of {@code grad()} or a leaf's
     * {@code .grad} (or, for a leaf with a gradient-ready hook, its per-backward sum), taking ownership of {@code g}.
     * Node inputs of {@code grad()} are captured when they come up in order, once all their gradient has arrived.
     */
    private static void deliver(Object target, Tensor g, Map<Object, Tensor> pending, Map<Object, Integer> inputIndex,
                                Tensor[] captured, boolean create, ReadyLeaves ready) {
        Integer in = inputIndex.get(target);
        if (ready != null && ready.handles(target)) {
            ready.deliver((Tensor) target, g); // a leaf with a gradient-ready hook: summed, handed over once complete
        } else if (target instanceof Node) {
            Tensor prev = pending.get(target);
            pending.put(target, prev == null ? g : accumulate(prev, g, create));
        } else if (in != null) {
            captured[in] = captured[in] == null ? g : accumulate(captured[in], g, create);
        } else if (captured == null) {
            accumulateLeaf((Tensor) target, g, create);
        } else {
            g.releaseIfAlive(); // grad(): leaves that are not inputs get nothing
        }
    }

    /** Sum of two gradient handles; both are consumed. Adds in place when {@code acc} is exclusively ours. */
    static Tensor accumulate(Tensor acc, Tensor g, boolean create) {
        if (!create && acc.storage().refCount() == 1 && acc.offset() == 0 && acc.dtype() == DType.FP32 && g.dtype() == DType.FP32
                && acc.storage().category() == Category.TEMPORARY && java.util.Arrays.equals(acc.shape(), g.shape())) {
            Elementwise.addInPlace(acc.data(), acc.offset(), g.data(), g.offset(), acc.numel());
            g.releaseIfAlive();
            return acc;
        }
        Tensor sum;
        try (var mode = GradMode.set(create)) {
            // low-precision gradients (an autocast GEMM operand's, in a second backward) are summed in FP32
            boolean fp32 = acc.dtype() == DType.FP32 && g.dtype() == DType.FP32;
            sum = fp32 ? F.add(acc, g) : F.add(F.cast(acc, DType.FP32), F.cast(g, DType.FP32));
        }
        acc.releaseIfAlive();
        g.releaseIfAlive();
        return sum;
    }

    /**
     * Adds {@code g} to {@code leaf.grad()}, consuming {@code g}. A {@code .grad()} held in GRADIENT memory (a view into
     * a model's flat gradient buffer after {@code Module.flatten()}, or one the engine allocated) stays where it is:
     * see {@link #accumulateIntoGradientMemory}.
     */
    private static void accumulateLeaf(Tensor leaf, Tensor g, boolean create) {
        if (leaf.grad != null && leaf.grad.isReleased()) leaf.grad = null; // a graph-carrying .grad its scope released
        if (leaf.grad != null && leaf.grad.storage().category() == Category.GRADIENT) {
            accumulateIntoGradientMemory(leaf, g, create);
            return;
        }
        if (create) {
            if (leaf.grad == null && g.storage().refCount() > 1) {
                // g shares its storage (a given output gradient passed through unchanged): a later in-place
                // accumulation must not write into the caller's tensor, so .grad() gets a differentiable copy, as
                // PyTorch clones here
                try (var on = GradMode.enableGrad()) {
                    leaf.grad = F.mulScalar(g, 1f);
                }
                g.releaseIfAlive();
            } else if (leaf.grad == null) {
                leaf.grad = g;
            } else {
                Tensor old = leaf.grad;
                try (var on = GradMode.enableGrad()) {
                    leaf.grad = F.add(old, g);
                }
                old.releaseIfAlive();
                g.releaseIfAlive();
            }
            return;
        }
        if (leaf.grad == null) {
            leaf.grad = Tensor.empty(DType.FP32, Category.GRADIENT, "grad", leaf.shape());
            System.arraycopy(g.data(), g.offset(), leaf.grad.data(), 0, g.numel());
        } else {
            Tensor acc = leaf.grad;
            if (acc.requiresGrad) throw new IllegalStateException("cannot accumulate into a .grad that has a graph; clear it first");
            Elementwise.addInPlace(acc.data(), acc.offset(), g.data(), g.offset(), g.numel());
        }
        g.releaseIfAlive();
    }

    /**
     * Accumulation into a {@code .grad()} that lives in GRADIENT memory. The optimizer and the collectives read the
     * flat buffer, not the tensors, so the sum is always written into the buffer in place and {@code .grad()} stays a
     * view of it: no second GRADIENT allocation, no parameter cut off from the buffer.
     *
     * <p>With {@code createGraph} the sum {@code old + g} is also recorded as an op (PyTorch's out-of-place
     * {@code grad = grad + new}), its values are copied into the buffer, and {@code .grad()} becomes a new handle on the
     * same buffer range whose producer is that op. Differentiating {@code .grad()} (a Hessian-vector product
     * {@code grad(dot(p.grad(), v), params)}) therefore follows the gradient's graph, while every reader of the buffer
     * sees the same numbers. The old contents count as a constant unless they carry a graph of their own that is still
     * alive (two createGraph backwards in a row), which is summed into the history as in PyTorch. As with any in-place
     * write, a value saved from {@code .grad()} before this accumulation sees the new numbers, and code that writes the
     * buffer directly (optimizer zeroing, clipping) should clear the graph with {@code zeroGrad()} first.
     *
     * <p>Without {@code createGraph} the sum is a plain in-place add, and a graph left on {@code .grad()} by an earlier
     * createGraph backward is dropped: in PyTorch too the sum formed under no-grad has no history.
     */
    private static void accumulateIntoGradientMemory(Tensor leaf, Tensor g, boolean create) {
        Tensor acc = leaf.grad;
        Tensor home = acc;
        if (create) {
            boolean oldHistory = acc.gradFn != null && !acc.gradFn.isFreed();
            Tensor sum;
            try (var on = GradMode.enableGrad()) {
                if (oldHistory) {
                    sum = F.add(acc, g);
                } else {
                    Tensor constant = acc.detach();
                    sum = F.add(constant, g);
                    constant.releaseIfAlive();
                }
            }
            System.arraycopy(sum.data(), sum.offset(), acc.data(), acc.offset(), acc.numel());
            if (sum.gradFn != null) {
                home = acc.detach(); // persistent storage: not registered with any scope, lives as long as the leaf
                home.gradFn = sum.gradFn;
                home.gradKey = sum.gradFn;
                home.requiresGrad = true;
                home.name(acc.name());
            } else if (acc.gradFn != null) {
                home = acc.detach();
            }
            sum.releaseIfAlive();
        } else {
            Elementwise.addInPlace(acc.data(), acc.offset(), g.data(), g.offset(), g.numel());
            if (acc.gradFn != null) home = acc.detach();
        }
        if (home != acc) {
            acc.releaseIfAlive();
            leaf.grad = home;
        }
        g.releaseIfAlive();
    }

    /** Reverse post-order of the nodes reachable from {@code roots}: every node comes after all nodes that consume it. */
    private static List<Node> topologicalOrder(List<Node> roots) {
        List<Node> post = new ArrayList<>();
        Set<Node> visited = Collections.newSetFromMap(new IdentityHashMap<>());
        ArrayDeque<Object[]> stack = new ArrayDeque<>();
        for (Node r : roots) {
            if (!visited.add(r)) continue;
            stack.push(new Object[]{r, 0});
            while (!stack.isEmpty()) {
                Object[] top = stack.peek();
                Node n = (Node) top[0];
                int next = (Integer) top[1];
                if (next < n.edges.length) {
                    top[1] = next + 1;
                    if (n.edges[next] instanceof Node p && visited.add(p)) stack.push(new Object[]{p, 0});
                } else {
                    stack.pop();
                    post.add(n);
                }
            }
        }
        Collections.reverse(post);
        return post;
    }

    /**
     * Nodes from which an input of {@code grad()} can be reached through edges: only they need to run. A node that is
     * itself an input runs only when another input lies behind it; its own gradient is captured either way.
     */
    private static Set<Node> nodesReachingInputs(List<Node> order, Map<Object, Integer> inputIndex) {
        Set<Node> reaching = Collections.newSetFromMap(new IdentityHashMap<>());
        for (int k = order.size() - 1; k >= 0; k--) { // producers first
            Node n = order.get(k);
            for (Object e : n.edges) {
                if (e != null && (inputIndex.containsKey(e) || (e instanceof Node p && reaching.contains(p)))) {
                    reaching.add(n);
                    break;
                }
            }
        }
        return reaching;
    }
}
