package dev.memwall.memory;

import dev.memwall.autograd.DType;
import dev.memwall.autograd.Tensor;

import java.util.ArrayList;
import java.util.List;

/**
 * Run in a small child JVM by {@link ArrayCacheTest}: fills the cache with {@code float[]} arrays and the rest of the
 * heap with live data, then allocates one tensor of the dtype named in {@code args[0]} that only fits once the cache is
 * emptied. Exits 0 when the allocation succeeded, 3 on {@link OutOfMemoryError}.
 */
public final class CacheFullHeapProbe {
    private CacheFullHeapProbe() {
    }

    public static void main(String[] args) {
        DType dtype = DType.valueOf(args[0]);
        int cachedMiB = Integer.parseInt(args[1]), wantMiB = Integer.parseInt(args[2]);
        for (int k = 0; k < cachedMiB; k++) ArrayCache.recycle(new float[1 << 18]); // 1 MiB each
        if (ArrayCache.cachedBytes() != (long) cachedMiB << 20) throw new IllegalStateException("cache did not fill: " + ArrayCache.cachedBytes());
        List<byte[]> live = new ArrayList<>();
        try {
            while (true) live.add(new byte[1 << 20]);
        } catch (OutOfMemoryError full) {
            // Leave about 2 MiB free: less than the tensor needs, much less than the cache holds.
            for (int k = 0; k < 2 && !live.isEmpty(); k++) live.remove(live.size() - 1);
        }
        int elements = (int) (((long) wantMiB << 20) / dtype.bytes);
        try {
            Tensor t = Tensor.empty(dtype, Category.TEMPORARY, "probe", elements);
            System.out.println("allocated " + t.bytes() + " bytes with " + live.size() + " MiB live; cache now " + ArrayCache.cachedBytes());
            System.exit(0);
        } catch (OutOfMemoryError e) {
            live.clear();
            System.out.println("out of memory with " + ArrayCache.cachedBytes() + " bytes cached");
            System.exit(3);
        }
    }
}
