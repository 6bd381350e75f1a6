package dev.memwall.cli;

import dev.memwall.autograd.Scope;
import dev.memwall.checkpoint.Planner;
import dev.memwall.checkpoint.Policy;
import dev.memwall.checkpoint.Profiler;
import dev.memwall.data.Batch;
import dev.memwall.memory.ArrayCache;
import dev.memwall.kernels.Gemm;
import dev.memwall.memory.Category;
import dev.memwall.memory.MemoryTracker;
import dev.memwall.nn.Gpt;
import dev.memwall.nn.GptConfig;
import dev.memwall.rng.Rng;

import java.util.ArrayList;
import java.util.List;

/**
 * Turns a Java heap exhaustion during training into advice: which checkpointing policies would fit under this JVM's
 * heap limit. Train and bench {@link #watch register} what they run; after an {@link OutOfMemoryError} everything the
 * run held is garbage, so a fresh model of the same shape is {@link Profiler profiled} (one block at a time, which is
 * the least any plan needs) and the planner's predictions are compared with the heap limit.
 */
final class OutOfMemoryAdvice {
    private record Watched(GptConfig config, Batch sample, String checkpoint) {
    }

    private static volatile Watched watched;
    /** A second-order optimizer's bytes beside the model (null: AdamW's two moments are assumed). */
    private record SecondOrderBytes(long state, long products) {
    }

    private static volatile SecondOrderBytes secondOrder;

    /**
     * What the predictions say about a second-order optimizer (AdaHessian): its state and its z ⊙ Hz buffer are counted,
     * the second-order graph of its Hessian steps is not.
     */
    static final String SECOND_ORDER_NOTE = "predicted for a first-order step with AdaHessian's three state vectors and its "
            + "z ⊙ Hz buffer; the Hessian steps' second-order graph is not predicted (without checkpointing it keeps several "
            + "times a first-order step's activations; EVERY_LAYER takes it region by region)";

    private OutOfMemoryAdvice() {
    }

    /** Registers the model and policy of the run about to start. */
    static void watch(GptConfig config, Batch sample, String checkpoint) {
        watched = new Watched(config, sample, checkpoint);
        secondOrder = null;
    }

    /**
     * After {@link #watch}: the run's optimizer is second-order, keeping {@code stateBytes} of state and, in a Hessian
     * step, a full-length FP32 buffer of z ⊙ Hz sums ({@code productBytes}); the advice counts both in place of
     * AdamW's moments and says what it leaves out ({@link #SECOND_ORDER_NOTE}).
     */
    static void watchSecondOrder(long stateBytes, long productBytes) {
        secondOrder = new SecondOrderBytes(stateBytes, productBytes);
    }

    /**
     * The heap limit (-Xmx) at which a step whose tracked peak total is {@code trackedBytes} runs: a quarter more, for
     * the JVM's own objects and for the garbage collector to work in. Measured with the parallel collector, the least
     * heap that trained was 335-340 MiB for the GPT benchmark model without checkpointing (302 MiB tracked, +12%),
     * 160-170 MiB with EVERY_LAYER (139 MiB tracked, +19%), and at most 116 MiB for a 4-layer, 128-wide model (99.5 MiB
     * tracked, +17%).
     */
    static long heapFor(long trackedBytes) {
        return trackedBytes / 4 * 5;
    }

    /** The inverse of {@link #heapFor}: the tracked bytes a heap limit leaves room for. */
    static long budgetFor(long maxHeap) {
        return maxHeap / 5 * 4;
    }

    /** Bytes of an optimizer's state tensors as allocated. */
    static long stateBytes(dev.memwall.optim.Optimizer o) {
        long n = 0;
        for (var t : o.stateTensors().values()) n += t.storage().bytes();
        return n;
    }

    /** One line for the user: the heap, what the run needed, and the policies predicted to fit. */
    static String describe(OutOfMemoryError e) {
        return describe(e, Runtime.getRuntime().maxMemory(), maxHeapSize());
    }

    /**
     * As {@link #describe(OutOfMemoryError)} for a JVM whose usable heap ({@link Runtime#maxMemory()}) is {@code max}
     * bytes and whose -Xmx is {@code xmx} bytes (0 when unknown). They differ: the parallel collector, for one, leaves a
     * survivor space out of maxMemory, so -Xmx302m gives 290 MiB. The advice plans for the usable heap and names both.
     * Every figure is in MiB.
     */
    static String describe(OutOfMemoryError e, long max, long xmx) {
        Watched w = watched;
        SecondOrderBytes so = secondOrder;
        String head = xmx > 0 && xmx != max
                ? String.format("out of memory: the usable Java heap is %s (-Xmx is %s; the garbage collector reserves the rest)", mib(max), mib(xmx))
                : String.format("out of memory: the Java heap limit (-Xmx) is %s", mib(max));
        if (w == null) return head + " (" + e.getMessage() + "); give the JVM more heap";
        ArrayCache.clear();
        long room = budgetFor(max) >> 20 << 20; // whole MiB, as the BUDGET it suggests is written
        MemoryTracker profiled = new MemoryTracker();
        try (var installed = MemoryTracker.install(profiled); Scope s = Scope.open()) {
            Gpt model = new Gpt(w.config(), new Rng(0));
            Planner.Profile profile = Profiler.profile(model, w.sample().idsTensor(), w.sample().targetsTensor(),
                    so == null ? CheckpointOption.adamStateBytes(model) : so.state() + so.products());
            // Predicted totals count GEMM's WORKSPACE, which on the staging path is native memory outside the Java heap:
            // the heap must hold the rest, and a BUDGET (on tracked totals) may be larger than the heap by that much.
            // On the no-copy path the workspace (split-K partial sums) is on the heap like everything else.
            long offHeap = Gemm.workspaceOffHeap() ? profiled.peak(Category.WORKSPACE) : 0;
            int layers = w.config().layers();
            String ran = w.checkpoint().toUpperCase(java.util.Locale.ROOT);
            StringBuilder sb = new StringBuilder(head).append(" and this run with --checkpoint ").append(w.checkpoint());
            if (Policy.parseBudget(ran) == null) {
                sb.append(String.format(" needs up to %s of tracked heap memory plus the JVM's own",
                        mib(Planner.predictTotal(profile, Policy.parse(ran, layers)) - offHeap)));
            }
            List<String> fit = new ArrayList<>();
            for (Policy p : List.of(Policy.selective(layers), Policy.sqrt(layers), Policy.everyLayer(layers))) {
                long heap = Planner.predictTotal(profile, p) - offHeap;
                if (heap <= room && !p.name().equals(ran)) fit.add(String.format("%s (up to %s)", p.name(), mib(heap)));
            }
            long budget = (room + offHeap) >> 20 << 20;
            if (room > 0 && Planner.minimumFeasible(profile) <= budget) {
                Planner.Plan plan = Planner.plan(profile, budget);
                String blocks = plan.policy().describe().substring(plan.policy().name().length() + 2); // without BUDGET(bytes)
                fit.add(String.format("BUDGET(%dMiB) (least recomputation for this heap: %s)", budget >> 20, blocks));
            }
            if (fit.isEmpty()) {
                return sb.append(String.format("; no checkpointing policy fits in it (the least any needs is %s): give the "
                        + "JVM more heap or use a smaller --batch", mib(heapFor(Planner.minimumFeasible(profile) - offHeap))))
                        .append(so == null ? "" : " (" + SECOND_ORDER_NOTE + ")").toString();
            }
            sb.append("; checkpointing policies that fit: --checkpoint ").append(String.join(", ", fit));
            return so == null ? sb.toString() : sb.append(" (").append(SECOND_ORDER_NOTE).append(")").toString();
        } catch (OutOfMemoryError again) {
            return head + " and not even profiling one block fits in it: give the JVM more heap or use a smaller --batch";
        }
    }

    /** The JVM's -Xmx (HotSpot's MaxHeapSize) in bytes, or 0 where the JVM does not say. */
    private static long maxHeapSize() {
        try {
            var hotspot = java.lang.management.ManagementFactory.getPlatformMXBean(com.sun.management.HotSpotDiagnosticMXBean.class);
            return hotspot == null ? 0 : Long.parseLong(hotspot.getVMOption("MaxHeapSize").getValue());
        } catch (RuntimeException notHotSpot) {
            return 0;
        }
    }

    private static String mib(long bytes) {
        return String.format("%,.0f MiB", bytes / 1048576.0);
    }
}
