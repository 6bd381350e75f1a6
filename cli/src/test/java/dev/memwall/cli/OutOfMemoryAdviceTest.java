package dev.memwall.cli;

import dev.memwall.autograd.Scope;
import dev.memwall.checkpoint.Planner;
import dev.memwall.checkpoint.Policy;
import dev.memwall.checkpoint.Profiler;
import dev.memwall.data.AdditionTask;
import dev.memwall.data.Batch;
import dev.memwall.kernels.Gemm;
import dev.memwall.memory.Category;
import dev.memwall.memory.MemoryTracker;
import dev.memwall.nn.Gpt;
import dev.memwall.nn.GptConfig;
import dev.memwall.rng.Rng;
import org.junit.jupiter.api.Test;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The out-of-memory advice names the heap it plans for: Runtime.maxMemory() is the usable heap, less than -Xmx under
 * the parallel collector (290 MiB for -Xmx302m), so it is not called -Xmx; and every budget is in one unit, MiB.
 */
class OutOfMemoryAdviceTest {
    @Test
    void theUsableHeapIsNotCalledXmxAndEveryFigureIsInMiB() {
        AdditionTask task = new AdditionTask(3);
        GptConfig config = new GptConfig(256, task.context(), 64, 4, 4, 0f);
        OutOfMemoryAdvice.watch(config, task.trainBatch(64, new Rng(1)), "NONE");
        String advice = OutOfMemoryAdvice.describe(new OutOfMemoryError("Java heap space"), 290L << 20, 302L << 20);
        assertThat(advice).startsWith("out of memory: the usable Java heap is 290 MiB (-Xmx is 302 MiB;")
                .doesNotContain("290 MiB (-Xmx)");
        // room for tracked heap bytes: 290 MiB less a fifth for the JVM = 232 MiB; the BUDGET adds GEMM's native workspace
        Matcher budget = Pattern.compile("BUDGET\\((\\d+)MiB\\)").matcher(advice);
        assertThat(budget.find()).as(advice).isTrue();
        assertThat(Integer.parseInt(budget.group(1))).isBetween(232, 240);
        // Every number is a count of MiB (or a block index inside a plan's "[from, to)").
        Matcher m = Pattern.compile("\\d[\\d,]*+(?! ?MiB)").matcher(advice.replaceAll("\\[\\d+, \\d+\\)", "[]"));
        while (m.find()) assertThat(m.group()).as("a figure without a unit in: %s", advice).isNull();

        String sameAsXmx = OutOfMemoryAdvice.describe(new OutOfMemoryError("Java heap space"), 302L << 20, 302L << 20);
        assertThat(sameAsXmx).startsWith("out of memory: the Java heap limit (-Xmx) is 302 MiB");
    }

    @Test
    void theHeapItNeedsLeavesOnlyGemmsNativeWorkspaceOut() {
        AdditionTask task = new AdditionTask(3);
        GptConfig config = new GptConfig(256, task.context(), 256, 4, 2, 0f);
        Batch sample = task.trainBatch(64, new Rng(1));
        long total, workspace;
        MemoryTracker tracker = new MemoryTracker();
        try (var installed = MemoryTracker.install(tracker); Scope s = Scope.open()) {
            Gpt model = new Gpt(config, new Rng(0));
            Planner.Profile profile = Profiler.profile(model, sample.idsTensor(), sample.targetsTensor(),
                    CheckpointOption.adamStateBytes(model));
            total = Planner.predictTotal(profile, Policy.none(config.layers()));
            workspace = tracker.peak(Category.WORKSPACE);
        }
        long offHeap;
        if (Gemm.path() == Gemm.Path.STAGED) {
            assertThat(workspace).as("GEMM staging of this model").isGreaterThan(2L << 20);
            offHeap = workspace;
        } else { // no staging buffers: what WORKSPACE holds (split-K partial sums) is on the heap
            assertThat(workspace).as("split-K partial sums only").isLessThan(1L << 20);
            offHeap = 0;
        }
        OutOfMemoryAdvice.watch(config, sample, "NONE");
        String advice = OutOfMemoryAdvice.describe(new OutOfMemoryError("Java heap space"), 40L << 20, 40L << 20);
        assertThat(advice).contains(String.format("needs up to %,.0f MiB of tracked heap memory", (total - offHeap) / 1048576.0));
    }
}
