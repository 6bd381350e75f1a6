package dev.memwall.train;

import dev.memwall.autograd.DType;
import dev.memwall.autograd.Tensor;
import dev.memwall.memory.Category;
import dev.memwall.optim.Optimizer;
import dev.memwall.optim.Shard;
import dev.memwall.sharding.ProcessGroup;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Optimizer state regrouped for a checkpoint from per-piece ownership into contiguous ranges. At ZeRO stage 2 rank r
 * owns piece r of every gradient bucket ({@link GradientBuckets}), at stage 3 piece r of every parameter unit
 * ({@link ParameterShards}); a checkpoint holds each rank's contiguous range [r·s, min((r+1)·s, Ψ)) — the stage-1
 * layout, so that any stage and world size can resume from it. Group by group (a bucket or a unit), every rank's piece
 * of a state tensor is all-gathered into one group-sized COMMUNICATION buffer, and each rank copies out the part of the
 * group that falls in its range. All-gather copies without arithmetic, so every value arrives bit for bit.
 *
 * <p>The state is the optimizer's {@code savedState} (compact moments as the FP32 values they decode to, as
 * {@link OptimizerShards#write} saves them at stages 0 and 1). Collective: every rank calls it with the same state names, in the same order, whether or not its range is empty.
 * Memory: the regrouped copy of the rank's range (OPTIMIZER_STATE, 4·(to − from) bytes per state tensor, released by
 * the caller after writing) plus one group buffer at a time; traffic: each state tensor all-gathered once.
 */
final class StateRegroup {
    private StateRegroup() {
    }

    /**
     * Stage 2: this rank's state over the flat range [from, to), one FP32 tensor per state tensor of {@code optimizer},
     * which must own {@code dp}'s bucket pieces. The caller releases the tensors.
     */
    static Map<String, Tensor> fromBuckets(DataParallel dp, Optimizer optimizer, int from, int to) {
        GradientBuckets buckets = dp.buckets();
        if (buckets == null) throw new IllegalStateException(dp.stage() + " has no gradient buckets to regroup from");
        Shard owned = owns(dp, optimizer);
        int n = dp.group().worldSize();
        int[][] layout = buckets.layout(); // bucket k = [starts[k], starts[k] + lengths[k]), k = 0 at the buffer's end
        int count = layout[0].length;
        int[] start = new int[count], length = new int[count], piece = new int[count], stateAt = new int[count], mine = new int[count];
        // the shard's segments run in ascending flat order (bucket count−1 first); state offsets follow them
        for (int j = 0, at = 0; j < count; at += owned.lengths()[j], j++) stateAt[count - 1 - j] = at;
        for (int k = 0; k < count; k++) {
            start[k] = layout[0][k];
            length[k] = layout[1][k]; // the padding beyond Ψ lies outside every range
            piece[k] = layout[1][k] / n;
            mine[k] = owned.lengths()[count - 1 - k];
        }
        return regroup(dp.group(), optimizer, start, length, piece, stateAt, mine, from, to);
    }

    /**
     * Stage 3: this rank's state over the flat range [from, to), from its piece of every parameter unit. The caller
     * releases the tensors.
     */
    static Map<String, Tensor> fromUnits(DataParallel dp, Optimizer optimizer, int from, int to) {
        ParameterShards units = dp.units();
        if (units == null) throw new IllegalStateException(dp.stage() + " has no parameter units to regroup from");
        Shard owned = owns(dp, optimizer);
        int[][] layout = units.unitLayout();
        int count = layout.length;
        int[] start = new int[count], length = new int[count], piece = new int[count], stateAt = new int[count];
        for (int u = 0, at = 0; u < count; at += owned.lengths()[u], u++) {
            start[u] = layout[u][0];
            length[u] = layout[u][1];
            piece[u] = layout[u][2];
            stateAt[u] = at;
        }
        return regroup(dp.group(), optimizer, start, length, piece, stateAt, owned.lengths(), from, to);
    }

    private static Shard owns(DataParallel dp, Optimizer optimizer) {
        Shard owned = optimizer.shard();
        if (!owned.sameAs(dp.shard())) throw new IllegalStateException("the optimizer does not own this rank's pieces of " + dp.stage());
        return owned;
    }

    /**
     * Group k covers flat elements [start[k], start[k] + length[k]) and is split into N pieces of piece[k] elements
     * (the last ones padded); this rank holds mine[k] elements of its piece at stateAt[k] of each state tensor.
     */
    private static Map<String, Tensor> regroup(ProcessGroup group, Optimizer optimizer, int[] start, int[] length, int[] piece,
                                               int[] stateAt, int[] mine, int from, int to) {
        int n = group.worldSize(), rank = group.rank(), largest = 0;
        for (int p : piece) largest = Math.max(largest, n * p);
        Tensor buffer = Tensor.empty(DType.FP32, Category.COMMUNICATION, "checkpoint_regroup", Math.max(1, largest));
        Map<String, Tensor> out = new LinkedHashMap<>();
        // savedState, not stateTensors: compact moments (BF16, INT8) are saved as the FP32 values they decode to, in
        // temporaries the scope releases; the regrouped ranges are kept for the caller
        try (dev.memwall.autograd.Scope scope = dev.memwall.autograd.Scope.open()) {
            for (Map.Entry<String, Tensor> e : optimizer.savedState().entrySet()) {
                Tensor range = scope.keep(Tensor.empty(DType.FP32, Category.OPTIMIZER_STATE, "checkpoint_" + e.getKey(), to - from));
                out.put(e.getKey(), range);
                float[] src = e.getValue().data(), buf = buffer.data(), dst = range.data();
                int srcBase = e.getValue().offset(), base = buffer.offset();
                for (int k = 0; k < start.length; k++) {
                    int slot = base + rank * piece[k];
                    System.arraycopy(src, srcBase + stateAt[k], buf, slot, mine[k]);
                    Arrays.fill(buf, slot + mine[k], slot + piece[k], 0f); // padding: owned by no optimizer
                    group.allGather(buf, slot, buf, base, piece[k]);
                    int lo = Math.max(from, start[k]), hi = Math.min(to, start[k] + length[k]);
                    if (hi > lo) System.arraycopy(buf, base + lo - start[k], dst, range.offset() + lo - from, hi - lo);
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
