package dev.memwall.cli;

import dev.memwall.data.AdditionTask;
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
                .doesNotContain("290 MiB (-Xmx)").contains("BUDGET(232MiB)");
        // Every number is a count of MiB (or a block index inside a plan's "[from, to)").
        Matcher m = Pattern.compile("\\d[\\d,]*+(?! ?MiB)").matcher(advice.replaceAll("\\[\\d+, \\d+\\)", "[]"));
        while (m.find()) assertThat(m.group()).as("a figure without a unit in: %s", advice).isNull();

        String sameAsXmx = OutOfMemoryAdvice.describe(new OutOfMemoryError("Java heap space"), 302L << 20, 302L << 20);
        assertThat(sameAsXmx).startsWith("out of memory: the Java heap limit (-Xmx) is 302 MiB");
    }
}
