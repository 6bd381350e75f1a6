package dev.memwall.autograd;

import dev.memwall.kernels.GemmWorkspace;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;

/**
 * A region whose temporaries are released when it closes, like an arena for one training step:
 * <pre>{@code
 * try (Scope step = Scope.open()) {
 *     Tensor loss = model.forward(x, y);
 *     loss.backward();
 *     optimizer.step();
 * }   // every temporary tensor handle created above is released here
 * }</pre>
 * Closing releases each handle that is still held (a storage that a live node still saves survives until that node
 * is freed) and frees the saved tensors of every node recorded in the scope, so a graph never outlives the scope
 * that built it. When a thread's outermost scope closes, the GEMM staging buffers of the thread go too
 * ({@link GemmWorkspace}). Persistent tensors (parameters, gradients, optimizer state) are never registered. Use
 * {@link #keep(Tensor)} to let a result escape.
 *
 * <p>Scopes are per thread (like {@link GradMode} and {@link SavedTensorHooks}): a tensor is registered with the
 * innermost scope of the thread that created it, so a tensor allocated inside a kernel running on a worker thread
 * belongs to no scope and the kernel releases it itself. Memory accounting, by contrast, is per process
 * ({@link dev.memwall.memory.MemoryTracker#current()}).
 */
public final class Scope implements AutoCloseable {
    private static final ThreadLocal<ArrayDeque<Scope>> STACK = ThreadLocal.withInitial(ArrayDeque::new);

    private final List<Tensor> tensors = new ArrayList<>();
    private final List<Node> nodes = new ArrayList<>();
    private boolean closed;

    private Scope() {
    }

    public static Scope open() {
        Scope s = new Scope();
        STACK.get().push(s);
        return s;
    }

    static void register(Tensor t) {
        Scope s = STACK.get().peek();
        if (s != null) s.tensors.add(t);
    }

    static void register(Node n) {
        Scope s = STACK.get().peek();
        if (s != null) s.nodes.add(n);
    }

    /** Removes {@code t} from this scope so that closing it leaves the handle alone; the caller now owns it. */
    public Tensor keep(Tensor t) {
        for (int k = tensors.size() - 1; k >= 0; k--) {
            if (tensors.get(k) == t) {
                tensors.remove(k);
                Scope outer = outer();
                if (outer != null) outer.tensors.add(t);
                return t;
            }
        }
        return t;
    }

    private Scope outer() {
        boolean seen = false;
        for (Scope s : STACK.get()) {
            if (seen) return s;
            if (s == this) seen = true;
        }
        return null;
    }

    /**
     * Releases this scope's temporaries and frees its nodes' saved tensors. Scopes nest, so closing a scope that is
     * not the innermost (an exception skipped an inner {@code close}) first closes every scope opened inside it:
     * nothing they hold is left behind, and their own later {@code close} does nothing. Closing twice does nothing.
     * A scope belongs to the thread that opened it, like {@link GradMode} and {@link SavedTensorHooks}; closing it on
     * another thread throws and changes nothing.
     */
    @Override
    public void close() {
        if (closed) return;
        ArrayDeque<Scope> stack = STACK.get();
        if (!stack.contains(this)) {
            throw new IllegalStateException("a scope must be closed on the thread that opened it (" + Thread.currentThread().getName() + " did not)");
        }
        RuntimeException first = null;
        while (!closed) {
            Scope innermost = stack.pop();
            try {
                innermost.releaseAll();
            } catch (RuntimeException e) { // keep releasing the rest; report the first failure
                if (first == null) first = e;
                else first.addSuppressed(e);
            }
        }
        // The end of a thread's outermost scope is the end of its step: kernel scratch kept between GEMMs goes too.
        if (stack.isEmpty()) GemmWorkspace.release();
        if (first != null) throw first;
    }

    /** Marks this scope closed and releases what it registered, even when one release fails. */
    private void releaseAll() {
        closed = true;
        RuntimeException first = null;
        for (Node n : nodes) {
            try {
                n.freeSaved();
            } catch (RuntimeException e) {
                if (first == null) first = e;
                else first.addSuppressed(e);
            }
        }
        for (Tensor t : tensors) {
            try {
                if (!t.nodeOwned) t.releaseIfAlive();
            } catch (RuntimeException e) {
                if (first == null) first = e;
                else first.addSuppressed(e);
            }
        }
        nodes.clear();
        tensors.clear();
        if (first != null) throw first;
    }
}
