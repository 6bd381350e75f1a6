package dev.memwall.memory;

import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.function.IntFunction;

/**
 * Keeps released {@code float[]} arrays for reuse by the next allocation of the same length, like PyTorch's caching
 * allocator. A training step allocates the same shapes every time (hundreds of MB of activations and gradients), so
 * after the first step almost every allocation is a reuse: no garbage-collection copying of live activations, no
 * page faults on a growing heap.
 *
 * <p>What the cache holds is not counted under any {@link Category}: the tracker's figures stay the bytes in use,
 * exactly as without the cache. The cache reports its own size ({@link #cachedBytes()}, PyTorch's "reserved minus
 * allocated"), so real heap use is the tracked total (less the native WORKSPACE) plus the cache. It is bounded
 * ({@code memwall.cache.mb}, default a quarter of the maximum heap; 0 disables it) and {@link #clear()} hands
 * everything back to the garbage collector.
 * Every storage array, of any element type, is allocated here ({@link #shorts}, {@link #bytes}, {@link #ints}), so
 * that an allocation that finds the heap full empties the cache and tries again whatever its type.
 */
public final class ArrayCache {
    private static final long LIMIT = Long.getLong("memwall.cache.mb", Runtime.getRuntime().maxMemory() / 4 >> 20) << 20;
    private static final Map<Integer, ArrayDeque<float[]>> FREE = new HashMap<>();
    private static long cached;
    private static long hits, misses;

    private ArrayCache() {
    }

    /** A zero-filled array of exactly {@code length} floats, reused when one is cached. */
    public static float[] floats(int length) {
        float[] a = null;
        synchronized (ArrayCache.class) {
            ArrayDeque<float[]> q = FREE.get(length);
            if (q != null && !q.isEmpty()) {
                a = q.pop();
                cached -= 4L * length;
                hits++;
            } else {
                misses++;
            }
        }
        if (a == null) return allocate(length);
        Arrays.fill(a, 0f);
        return a;
    }

    /**
     * An array of exactly {@code length} floats whose contents are unspecified (a reused array keeps what it held): for
     * a kernel that writes every element before it reads any, which would otherwise pay a zero-fill pass for nothing.
     */
    public static float[] floatsUnfilled(int length) {
        synchronized (ArrayCache.class) {
            ArrayDeque<float[]> q = FREE.get(length);
            if (q != null && !q.isEmpty()) {
                cached -= 4L * length;
                hits++;
                return q.pop();
            }
            misses++;
        }
        return allocate(length);
    }

    /** A new zero-filled {@code short[]} (FP16, BF16); only {@code float[]} arrays are cached and reused. */
    public static short[] shorts(int length) {
        return allocate(length, short[]::new);
    }

    /** A new zero-filled {@code byte[]} (FP8, masks). */
    public static byte[] bytes(int length) {
        return allocate(length, byte[]::new);
    }

    /** A new zero-filled {@code int[]} (token ids). */
    public static int[] ints(int length) {
        return allocate(length, int[]::new);
    }

    private static float[] allocate(int length) {
        return allocate(length, float[]::new);
    }

    /**
     * A new array; when the heap is exhausted, the cache is handed back to the garbage collector and the allocation
     * tried once more, as PyTorch's allocator frees its cached blocks before reporting out-of-memory. Arrays of other
     * lengths (or other element types) sitting in the cache must never be why a step fails.
     */
    private static <T> T allocate(int length, IntFunction<T> array) {
        try {
            return array.apply(length);
        } catch (OutOfMemoryError e) {
            if (cachedBytes() == 0) throw e;
            clear();
            return array.apply(length);
        }
    }

    /** Takes back an array that nothing references any more; dropped when the cache is full. */
    public static void recycle(float[] a) {
        long size = 4L * a.length;
        if (a.length < 1024) return; // small arrays are cheap to allocate; not worth a map lookup later
        synchronized (ArrayCache.class) {
            if (cached + size > LIMIT) return;
            FREE.computeIfAbsent(a.length, k -> new ArrayDeque<>()).push(a);
            cached += size;
        }
    }

    public static synchronized long cachedBytes() {
        return cached;
    }

    public static synchronized long hits() {
        return hits;
    }

    public static synchronized long misses() {
        return misses;
    }

    /** Drops every cached array (the garbage collector takes them). */
    public static synchronized void clear() {
        FREE.clear();
        cached = 0;
    }

    public static long limitBytes() {
        return LIMIT;
    }
}
