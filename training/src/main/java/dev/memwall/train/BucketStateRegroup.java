package dev.memwall.train;

import dev.memwall.autograd.DType;
import dev.memwall.autograd.Tensor;
import dev.memwall.memory.Category;
import dev.memwall.optim.Optimizer;
import dev.memwall.optim.Shard;
import dev.memwall.sharding.ProcessGroup;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * ZeRO stage 2's optimizer state regrouped for a checkpoint. At stage 2 rank r owns piece r of every gradient bucket
 * ({@link GradientBuckets}), but a checkpoint holds each rank's contiguous range [r·s, min((r+1)·s, Ψ)) — the stage-1
 * layout, so that any stage and world size can resume from it. Bucket by bucket, every rank's piece of a state tensor is
 * all-gathered into one bucket-sized COMMUNICATION buffer, and each rank copies out the part of the bucket that falls in
 * its range. All-gather copies without arithmetic, so every value arrives bit for bit.
 *
 * <p>Collective: every rank calls it with the same state names, in the same order, whether or not its range is empty.
 * Memory: the regrouped copy of the rank's range (OPTIMIZER_STATE, 4·(to − from) bytes per state tensor, released by
 * the caller after writing) plus one bucket buffer at a time; traffic: each state tensor all-gathered once.
 */
final class BucketStateRegroup {
    private BucketStateRegroup() {
    }

    /**
     * This rank's state over the flat range [from, to), one FP32 tensor per state tensor of {@code optimizer}, which must
     * own {@code dp}'s stage-2 shard. The caller releases the tensors.
     */
    static Map<String, Tensor> toRange(DataParallel dp, Optimizer optimizer, int from, int to) {
        GradientBuckets buckets = dp.buckets();
        if (buckets == null) throw new IllegalStateException(dp.stage() + " has no gradient buckets to regroup from");
        Shard owned = optimizer.shard();
        if (!owned.sameAs(dp.shard())) throw new IllegalStateException("the optimizer does not own this rank's bucket pieces");
        ProcessGroup group = dp.group();
        int n = group.worldSize(), rank = group.rank();
        int[][] layout = buckets.layout(); // bucket k = [starts[k], starts[k] + lengths[k]), k = 0 at the buffer's end
        int count = layout[0].length;
        // the shard's segments run in ascending flat order (bucket count−1 first); state offsets follow them
        int[] stateAt = new int[count];
        for (int j = 0, at = 0; j < count; at += owned.lengths()[j], j++) stateAt[count - 1 - j] = at;
        Tensor buffer = Tensor.empty(DType.FP32, Category.COMMUNICATION, "checkpoint_regroup", buckets.bucketElements());
        Map<String, Tensor> out = new LinkedHashMap<>();
        try {
            for (Map.Entry<String, Tensor> e : optimizer.stateTensors().entrySet()) {
                Tensor range = Tensor.empty(DType.FP32, Category.OPTIMIZER_STATE, "checkpoint_" + e.getKey(), to - from);
                out.put(e.getKey(), range);
                float[] src = e.getValue().data(), buf = buffer.data(), dst = range.data();
                int srcBase = e.getValue().offset(), base = buffer.offset();
                for (int k = 0; k < count; k++) {
                    int start = layout[0][k], len = layout[1][k], piece = len / n, mine = owned.lengths()[count - 1 - k];
                    int slot = base + rank * piece;
                    System.arraycopy(src, srcBase + stateAt[k], buf, slot, mine);
                    java.util.Arrays.fill(buf, slot + mine, slot + piece, 0f); // padding beyond Ψ: owned by no optimizer
                    group.allGather(buf, slot, buf, base, piece);
                    int lo = Math.max(from, start), hi = Math.min(to, start + len);
                    if (hi > lo) System.arraycopy(buf, base + lo - start, dst, range.offset() + lo - from, hi - lo);
                }
            }
        } catch (RuntimeException | Error t) {
            out.values().forEach(Tensor::releaseIfAlive);
            throw t;
        } finally {
            buffer.release();
        }
        return out;
    }
}
