package dev.memwall.memory;

import dev.memwall.autograd.Scope;
import dev.memwall.autograd.Tensor;
import dev.memwall.nn.Gpt;
import dev.memwall.nn.GptConfig;
import dev.memwall.nn.Linear;
import dev.memwall.ops.F;
import dev.memwall.rng.Rng;
import org.junit.jupiter.api.Test;

import java.lang.ref.WeakReference;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The ACTIVATION figures equal the analytic byte count of what each op must save, fall back to zero after
 * backward, and repeat exactly run to run.
 */
class MemoryAccountingTest {
    private static final int F32 = 4, I32 = 4;

    /** One forward + backward of a 2-layer MLP; returns the tracker it ran under. */
    private static MemoryTracker mlpStep(int b, int in, int hid, int classes) {
        MemoryTracker tracker = new MemoryTracker();
        try (var installed = MemoryTracker.install(tracker)) {
            Rng rng = new Rng(7);
            Linear l1 = new Linear(in, hid, true, rng), l2 = new Linear(hid, classes, true, rng);
            try (Scope step = Scope.open()) {
                Tensor x = Tensor.randn(rng, 1f, b, in);
                int[] labels = new int[b];
                for (int i = 0; i < b; i++) labels[i] = i % classes;
                Tensor t = Tensor.ints(labels, b);
                tracker.phase(Phase.FORWARD);
                Tensor h = l1.forward(x);
                Tensor a = F.gelu(h);
                Tensor logits = l2.forward(a);
                Tensor loss = F.crossEntropy(logits, t);
                tracker.phase(Phase.BACKWARD);
                loss.backward();
                assertThat(tracker.current(Category.ACTIVATION)).isZero();
            }
            assertThat(tracker.current(Category.TEMPORARY)).isZero();
        }
        return tracker;
    }

    @Test
    void mlpActivationPeakIsAnalytic() {
        int b = 32, in = 20, hid = 48, classes = 10;
        MemoryTracker tracker = mlpStep(b, in, hid, classes);
        long expected = (long) F32 * (b * in      // l1's matmul saves x
                + b * hid                          // gelu saves its input
                + b * hid                          // l2's matmul saves gelu's output
                + b * classes)                     // cross-entropy saves the logits
                + (long) I32 * b;                  // ... and the targets
        assertThat(tracker.peak(Category.ACTIVATION)).isEqualTo(expected);
        long params = (long) F32 * (in * hid + hid + hid * classes + classes);
        assertThat(tracker.current(Category.PARAMETER)).isEqualTo(params);
        assertThat(tracker.current(Category.GRADIENT)).isEqualTo(params);
    }

    @Test
    void mlpFiguresRepeatExactly() {
        MemoryTracker a = mlpStep(16, 12, 24, 5), b = mlpStep(16, 12, 24, 5);
        assertThat(b.peakByCategory()).isEqualTo(a.peakByCategory());
        assertThat(b.currentByCategory()).isEqualTo(a.currentByCategory());
        assertThat(b.allocationCount()).isEqualTo(a.allocationCount());
        assertThat(b.allocatedBytes()).isEqualTo(a.allocatedBytes());
        assertThat(b.peakTotal()).isEqualTo(a.peakTotal());
    }

    private record GptRun(long peakActivation, long afterBackwardActivation, long afterScopeTemporary,
                          long allocations, long peakTotal, List<MemoryEvent> events) {
    }

    private static GptRun gptStep(GptConfig c, int batch) {
        MemoryTracker tracker = new MemoryTracker();
        try (var installed = MemoryTracker.install(tracker)) {
            Gpt model = new Gpt(c, new Rng(3));
            int n = batch * c.context();
            int[] ids = new int[n], next = new int[n];
            Rng data = new Rng(11);
            for (int i = 0; i < n; i++) {
                ids[i] = data.nextInt(c.vocab());
                next[i] = data.nextInt(c.vocab());
            }
            tracker.resetPeaks();
            tracker.record(true);
            long afterBackward;
            try (Scope step = Scope.open()) {
                tracker.phase(Phase.FORWARD);
                Tensor loss = model.loss(Tensor.ints(ids, batch, c.context()), Tensor.ints(next, batch, c.context()));
                tracker.phase(Phase.BACKWARD);
                loss.backward();
                afterBackward = tracker.current(Category.ACTIVATION);
            }
            tracker.record(false);
            return new GptRun(tracker.peak(Category.ACTIVATION), afterBackward, tracker.current(Category.TEMPORARY),
                    tracker.allocationCount(), tracker.peakTotal(), tracker.events());
        }
    }

    @Test
    void oneBlockGptActivationPeakIsAnalytic() {
        int b = 2, t = 16, d = 32, h = 4, v = 40;
        GptConfig c = new GptConfig(v, t, d, h, 1, 0f);
        GptRun run = gptStep(c, b);
        long btd = (long) b * t * d, bt = (long) b * t;
        long block = 16 * btd     // ln1 x, qkv in, q, k, v, proj in, ln2 x, fc in, gelu in (4D), out in (4D)
                + 4 * bt          // mean and rstd of two layer norms
                + (long) b * h * t * t; // attention probabilities, saved once though softmax and att·v both read them
        long expected = (long) F32 * (block
                + btd + 2 * bt    // final layer norm
                + btd             // LM head input
                + bt * v)         // cross-entropy logits
                + (long) I32 * (bt + bt); // token ids (embedding) and targets (cross-entropy)
        assertThat(run.peakActivation()).isEqualTo(expected);
        assertThat(run.afterBackwardActivation()).isZero();
        assertThat(run.afterScopeTemporary()).isZero();
    }

    @Test
    void gptFiguresAndTimelineRepeatExactly() {
        GptConfig c = new GptConfig(50, 8, 16, 2, 2, 0f);
        GptRun a = gptStep(c, 3), b = gptStep(c, 3);
        assertThat(b.peakActivation()).isEqualTo(a.peakActivation());
        assertThat(b.peakTotal()).isEqualTo(a.peakTotal());
        assertThat(b.allocations()).isEqualTo(a.allocations());
        assertThat(b.events()).hasSameSizeAs(a.events());
        for (int i = 0; i < a.events().size(); i++) {
            assertThat(b.events().get(i).op()).isEqualTo(a.events().get(i).op());
            assertThat(b.events().get(i).current()).isEqualTo(a.events().get(i).current());
        }
        assertThat(a.events()).extracting(MemoryEvent::phase).contains(Phase.FORWARD, Phase.BACKWARD);
        // The timeline is self-consistent: each event's totals are the previous totals plus its delta.
        for (int i = 1; i < a.events().size(); i++) {
            MemoryEvent e = a.events().get(i);
            assertThat(e.total()).isEqualTo(a.events().get(i - 1).total() + e.deltaBytes());
        }
    }

    /**
     * Released arrays stay reachable only through the cache, and {@link ArrayCache#clear()} lets the garbage collector
     * take them although the tensor handles are still reachable. Checked by reachability (weak references, which a
     * full collection must clear when nothing else holds the array), not by heap figures, which depend on when the
     * collector runs. Real heap use under a limit is shown with child JVMs by {@code compare-memory --real-memory}.
     */
    @Test
    void releasedStorageLeavesTheHeapThroughTheCache() {
        MemoryTracker tracker = new MemoryTracker();
        try (var installed = MemoryTracker.install(tracker)) {
            ArrayCache.clear();
            Tensor[] big = new Tensor[8];
            List<WeakReference<float[]>> arrays = new ArrayList<>();
            for (int i = 0; i < big.length; i++) {
                big[i] = Tensor.zeros(8 << 20); // 8 × 32 MiB
                arrays.add(new WeakReference<>(big[i].data()));
            }
            assertThat(tracker.current(Category.TEMPORARY)).isEqualTo(8L * (8 << 20) * 4);
            for (Tensor t : big) t.release(); // the handles stay reachable; only the accounting frees the arrays
            assertThat(tracker.current(Category.TEMPORARY)).isZero();
            // Released arrays wait in the cache, reported as such, and are reused by the next allocation of that size.
            long fit = Math.min(big.length, ArrayCache.limitBytes() / (32L << 20));
            assertThat(ArrayCache.cachedBytes()).isEqualTo(fit * (32L << 20));
            long hits = ArrayCache.hits();
            Tensor again = Tensor.zeros(8 << 20);
            assertThat(ArrayCache.hits()).isEqualTo(hits + 1);
            assertThat(again.toFloatArray()).containsOnly(0f); // reused arrays come back zeroed
            again.release();
            fullCollection();
            assertThat(arrays.stream().filter(r -> r.get() != null).count())
                    .as("arrays the cache still holds survive a collection").isEqualTo(fit);
            ArrayCache.clear();
            assertThat(ArrayCache.cachedBytes()).isZero();
            fullCollection();
            assertThat(arrays).as("arrays still reachable after release and clear()").allMatch(r -> r.get() == null);
            assertThat(big[0].isReleased()).isTrue();
        }
    }

    /** System.gc() under the parallel collector the tests run with is a full, stop-the-world collection. */
    private static void fullCollection() {
        System.gc();
    }
}
