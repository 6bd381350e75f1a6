package dev.memwall.autograd;

import dev.memwall.memory.ArrayCache;
import dev.memwall.memory.Category;
import dev.memwall.memory.MemoryTracker;

/**
 * One accounted heap array. Tensors are views of a storage (an offset and a shape); several tensors, and the
 * autograd nodes that saved them, may share one storage. The storage is released, and its array dropped so the
 * garbage collector can take it, when the last reference goes: that is what makes the tracker's figures follow the
 * real heap.
 *
 * <p>The accounted category is the base category, except that a TEMPORARY storage saved by at least one node counts
 * as ACTIVATION for as long as it is saved.
 */
public final class Storage {
    final DType dtype;
    final int length;
    final long bytes;
    private final MemoryTracker tracker;
    private final String op;
    private Category category;
    private int refs = 1;
    private int saved;
    float[] f;
    short[] s;
    byte[] b;
    int[] i;

    private Storage(DType dtype, int length, Category category, String op) {
        this(dtype, length, category, op, true);
    }

    private Storage(DType dtype, int length, Category category, String op, boolean zeroed) {
        this.dtype = dtype;
        this.length = length;
        this.bytes = (long) length * dtype.bytes;
        this.category = category;
        this.op = op;
        this.tracker = MemoryTracker.current();
        switch (dtype) {
            case FP32 -> f = zeroed ? ArrayCache.floats(length) : ArrayCache.floatsUnfilled(length);
            case FP16, BF16 -> s = ArrayCache.shorts(length);
            case FP8_E4M3, FP8_E5M2, BOOL -> b = ArrayCache.bytes(length);
            case INT32 -> i = ArrayCache.ints(length);
        }
        tracker.allocated(category, bytes, op);
    }

    static Storage allocate(DType dtype, int length, Category category, String op) {
        if (length < 0) throw new IllegalArgumentException(op + ": negative size " + length);
        return new Storage(dtype, length, category, op);
    }

    /** FP32 storage whose contents are unspecified until written ({@link ArrayCache#floatsUnfilled}). */
    static Storage allocateUnfilled(int length, Category category, String op) {
        if (length < 0) throw new IllegalArgumentException(op + ": negative size " + length);
        return new Storage(DType.FP32, length, category, op, false);
    }

    public DType dtype() {
        return dtype;
    }

    public int length() {
        return length;
    }

    public long bytes() {
        return bytes;
    }

    public boolean freed() {
        return refs == 0;
    }

    public int refCount() {
        return refs;
    }

    /** The category this storage is counted under right now. */
    public Category accountedAs() {
        return saved > 0 && category == Category.TEMPORARY ? Category.ACTIVATION : category;
    }

    /** Changes the base category, moving the accounted bytes accordingly. */
    public void category(Category c) {
        Category before = accountedAs();
        category = c;
        tracker.moved(before, accountedAs(), bytes, op);
    }

    public Category category() {
        return category;
    }

    synchronized void retain() {
        if (refs == 0) throw new IllegalStateException("storage of " + op + " was already released");
        refs++;
    }

    synchronized void release(String by) {
        if (refs == 0) throw new IllegalStateException("storage of " + op + " released twice (by " + by + ")");
        if (--refs == 0) {
            tracker.released(accountedAs(), bytes, by);
            if (f != null) ArrayCache.recycle(f);
            f = null;
            s = null;
            b = null;
            i = null;
        }
    }

    /** A node now holds a reference to this storage as a saved tensor: counted as activation while held. */
    synchronized void markSaved(String by) {
        if (refs == 0) throw new IllegalStateException("storage of " + op + " was already released");
        Category before = accountedAs();
        saved++;
        tracker.moved(before, accountedAs(), bytes, by);
    }

    synchronized void releaseSaved(String by) {
        if (refs == 1) { // the last reference: released under the category it is counted as now
            release(by);
            saved = 0;
            return;
        }
        Category before = accountedAs();
        saved--;
        tracker.moved(before, accountedAs(), bytes, by);
        release(by);
    }

    String op() {
        return op;
    }
}
