package dev.memwall.kernels;

import dev.memwall.memory.ArrayCache;
import dev.memwall.memory.Category;
import dev.memwall.memory.MemoryTracker;

/**
 * A chunk's scratch array for a kernel that works task by task (attention heads, say): taken from {@link ArrayCache},
 * counted as TEMPORARY under {@code label} while held, recycled on close — so a kernel's transient memory is in the
 * tracker without an allocation per task.
 */
public final class TemporaryScratch implements AutoCloseable {
    /** The array; at least the length asked for (the cache may hand out a longer one). */
    public final float[] a;
    private final String label;
    private final MemoryTracker tracker = MemoryTracker.current();

    public TemporaryScratch(int floats, String label) {
        this.a = ArrayCache.floats(floats);
        this.label = label;
        tracker.allocated(Category.TEMPORARY, 4L * a.length, label);
    }

    @Override
    public void close() {
        tracker.released(Category.TEMPORARY, 4L * a.length, label);
        ArrayCache.recycle(a);
    }
}
