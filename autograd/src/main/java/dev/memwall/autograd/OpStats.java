package dev.memwall.autograd;

import dev.memwall.memory.MemoryTracker;
import dev.memwall.memory.Phase;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Opt-in roofline counts per op type and phase: calls, wall time, FLOPs and bytes moved, each op's FLOPs and bytes
 * computed from its shapes and dtypes (PyTorch's {@code flop_counter} idea). Off (the default), an op pays one
 * volatile read in {@link #begin}.
 *
 * <p>Bytes are the compulsory traffic: every operand read once and every output written once, at its dtype's size.
 * That is a lower bound on DRAM traffic for one op (a kernel that makes several passes moves more) and an upper bound
 * when a tensor is still in cache from the op before (caches are not modelled).
 *
 * <p>Frames nest: an op run inside another op of the same phase (the GEMMs of a backward rule) adds its FLOPs and
 * bytes to the outer op, whose time already includes it. An op in a different phase (a recomputation inside a backward
 * rule) becomes its own row, and its time is taken out of the outer op's, so no nanosecond is counted twice.
 */
public final class OpStats {
    private static volatile boolean enabled;
    private static final ThreadLocal<Frame> OPEN = new ThreadLocal<>();
    private static final Map<String, Row> ROWS = new LinkedHashMap<>();

    private OpStats() {
    }

    /** Totals of one op type in one phase since the last {@link #reset}. */
    public record Row(String op, Phase phase, long calls, long nanos, double flops, double bytes) {
        Row plus(long ns, double f, double b) {
            return new Row(op, phase, calls + 1, nanos + ns, flops + f, bytes + b);
        }
    }

    public static void enable(boolean on) {
        enabled = on;
    }

    public static boolean enabled() {
        return enabled;
    }

    /** Opens a frame for one call of {@code op}, or returns null (and does nothing) when counting is off. */
    public static Frame begin(String op) {
        if (!enabled) return null;
        Frame f = new Frame(op, MemoryTracker.current().phase(), OPEN.get());
        OPEN.set(f);
        f.t0 = System.nanoTime();
        return f;
    }

    /** Bytes of the given tensors at their dtypes (nulls skipped). */
    public static double bytes(Tensor... ts) {
        double b = 0;
        for (Tensor t : ts) if (t != null) b += (double) t.numel() * t.dtype().bytes;
        return b;
    }

    /** Every row, in first-seen order. */
    public static synchronized List<Row> snapshot() {
        return new ArrayList<>(ROWS.values());
    }

    /** Clears the rows, and the calling thread's open frames (left open only by an op that threw). */
    public static synchronized void reset() {
        ROWS.clear();
        OPEN.remove();
    }

    private static synchronized void record(String op, Phase phase, long nanos, double flops, double bytes) {
        ROWS.merge(op + "\u0000" + phase, new Row(op, phase, 1, nanos, flops, bytes),
                (old, add) -> old.plus(nanos, flops, bytes));
    }

    /** One open call; {@link #end} closes it (frames close in reverse order of opening). */
    public static final class Frame {
        private final String op;
        private final Phase phase;
        private final Frame parent;
        private long t0, excluded;
        private double flops, bytes;

        private Frame(String op, Phase phase, Frame parent) {
            this.op = op;
            this.phase = phase;
            this.parent = parent;
        }

        /** Closes the call, adding the op's own FLOPs and bytes to those of the ops nested in it. */
        public void end(double opFlops, double opBytes) {
            long elapsed = System.nanoTime() - t0;
            OPEN.set(parent);
            flops += opFlops;
            bytes += opBytes;
            if (parent != null && parent.phase == phase) {
                parent.flops += flops;
                parent.bytes += bytes;
                return;
            }
            if (parent != null) parent.excluded += elapsed;
            record(op, phase, elapsed - excluded, flops, bytes);
        }
    }
}
