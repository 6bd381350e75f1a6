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
     * {@code torch.autograd.grad}. Nothing is accumulated into {@code .grad()}. With {@code createGraph} the result is
     * differentiable (and the graph is retained), which is what a Hessian-vector product needs.
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

        // Seed: one gradient per output, keyed by the node (or leaf) it flows into.
        Map<Object, Tensor> pending = new IdentityHashMap<>();
        List<Node> roots = new ArrayList<>();
        for (int k = 0; k < outputs.length; k++) {
            Tensor out = outputs[k];
            out.checkAlive("backward");
            if (!out.requiresGrad) {
                throw new IllegalStateException("element " + k + " of outputs does not require grad and has no grad_fn");
            }
            Tensor g = gradOutputs == null || gradOutputs[k] == null ? seed(out) : gradOutputs[k].alias();
            if (!java.util.Arrays.equals(g.shape(), out.shape())) {
                throw new IllegalArgumentException("backward: gradient shape " + Shape.str(g.shape())
                        + " does not match output shape " + Shape.str(out.shape()));
            }
            Object key = out.gradFn != null ? out.gradFn : out.gradKey;
            deliver(key, g, pending, inputIndex, captured, create);
            if (out.gradFn != null) roots.add(out.gradFn);
        }

        List<Node> order = topologicalOrder(roots, inputIndex);
        Set<Node> needed = inputs == null ? null : neededNodes(order, inputIndex);
        for (Node node : order) {
            Tensor g = pending.remove(node);
            if (g == null || (needed != null && !needed.contains(node)) || inputIndex.containsKey(node)) {
                if (g != null) g.releaseIfAlive(); // a node that does not run keeps what it saved
                continue;
            }
            long t0 = OpProfile.enabled() ? System.nanoTime() : 0;
            Tensor[] grads = node.apply(g, create);
            if (t0 != 0) OpProfile.record(node.name(), System.nanoTime() - t0);
            g.releaseIfAlive();
            for (int k = 0; k < grads.length; k++) {
                Tensor gk = grads[k];
                if (gk == null) continue;
                Object edge = node.edges[k];
                if (edge == null) {
                    gk.releaseIfAlive();
                } else {
                    deliver(edge, gk, pending, inputIndex, captured, create);
                }
            }
            if (!retain) node.freeSaved();
        }
        for (Tensor left : pending.values()) left.releaseIfAlive();

        if (inputs == null) return new Tensor[0];
        for (int k = 0; k < inputs.length; k++) {
            Integer first = inputIndex.get(key(inputs[k]));
            if (first != k) captured[k] = captured[first].alias();
            if (captured[k] == null && !allowUnused) {
                throw new IllegalStateException("grad: input " + k + " was not used to compute the outputs (pass allowUnused=true)");
            }
        }
        return captured;
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

    /** Hands gradient {@code g} to a node, a captured input or a leaf's {@code .grad}, taking ownership of {@code g}. */
    private static void deliver(Object target, Tensor g, Map<Object, Tensor> pending, Map<Object, Integer> inputIndex,
                                Tensor[] captured, boolean create) {
        Integer in = inputIndex.get(target);
        if (in != null) {
            captured[in] = captured[in] == null ? g : accumulate(captured[in], g, create);
        } else if (target instanceof Node) {
            Tensor prev = pending.get(target);
            pending.put(target, prev == null ? g : accumulate(prev, g, create));
        } else if (captured == null) {
            accumulateLeaf((Tensor) target, g, create);
        } else {
            g.releaseIfAlive(); // grad(): leaves that are not inputs get nothing
        }
    }

    /** Sum of two gradient handles; both are consumed. Adds in place when {@code acc} is exclusively ours. */
    private static Tensor accumulate(Tensor acc, Tensor g, boolean create) {
        if (!create && acc.storage().refCount() == 1 && acc.offset() == 0
                && acc.storage().category() == Category.TEMPORARY && java.util.Arrays.equals(acc.shape(), g.shape())) {
            Elementwise.addInPlace(acc.data(), acc.offset(), g.data(), g.offset(), acc.numel());
            g.releaseIfAlive();
            return acc;
        }
        Tensor sum;
        try (var mode = GradMode.set(create)) {
            sum = F.add(acc, g);
        }
        acc.releaseIfAlive();
        g.releaseIfAlive();
        return sum;
    }

    private static void accumulateLeaf(Tensor leaf, Tensor g, boolean create) {
        if (create) {
            if (leaf.grad == null) {
                leaf.grad = g;
            } else {
                Tensor old = leaf.grad;
                leaf.grad = F.add(old, g);
                old.releaseIfAlive();
                g.releaseIfAlive();
            }
            return;
        }
        if (leaf.grad == null || leaf.grad.isReleased()) {
            leaf.grad = Tensor.empty(DType.FP32, Category.GRADIENT, "grad", leaf.shape());
            System.arraycopy(g.data(), g.offset(), leaf.grad.data(), 0, g.numel());
        } else {
            Tensor acc = leaf.grad;
            if (acc.requiresGrad) throw new IllegalStateException("cannot accumulate into a .grad that has a graph; clear it first");
            Elementwise.addInPlace(acc.data(), acc.offset(), g.data(), g.offset(), g.numel());
        }
        g.releaseIfAlive();
    }

    /** Reverse post-order of the nodes reachable from {@code roots}: every node comes after all nodes that consume it. */
    private static List<Node> topologicalOrder(List<Node> roots, Map<Object, Integer> stopAt) {
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
                if (next < n.edges.length && !stopAt.containsKey(n)) {
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

    /** Nodes on a path from an output to one of the inputs of {@code grad()}; others need not run. */
    private static Set<Node> neededNodes(List<Node> order, Map<Object, Integer> inputIndex) {
        Set<Node> needed = Collections.newSetFromMap(new IdentityHashMap<>());
        for (int k = order.size() - 1; k >= 0; k--) { // producers first
            Node n = order.get(k);
            if (inputIndex.containsKey(n)) {
                needed.add(n);
                continue;
            }
            for (Object e : n.edges) {
                if (e == null) continue;
                if (inputIndex.containsKey(e) || (e instanceof Node p && needed.contains(p))) {
                    needed.add(n);
                    break;
                }
            }
        }
        return needed;
    }
}
