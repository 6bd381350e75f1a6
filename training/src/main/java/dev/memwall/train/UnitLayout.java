package dev.memwall.train;

import dev.memwall.autograd.Tensor;
import dev.memwall.nn.FlatParameters;
import dev.memwall.nn.Gpt;
import dev.memwall.optim.Shard;
import dev.memwall.sharding.ProcessGroup;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Where every parameter of a {@link Gpt} lies at ZeRO stage 3: in its unit, in the unit's gathered buffer, and in
 * this rank's shard arrays. Pure arithmetic on the model's shapes; {@link ParameterShards} moves the data.
 *
 * <p>Unit u ({@link Gpt#unitOf}: the embeddings, each block, the final LayerNorm with the head) holds L_u elements in
 * {@code namedParameters} order, padded to N·p_u with p_u = ceil(L_u / N). Rank r owns the unit's elements
 * [r·p_u, (r+1)·p_u), FSDP-style, at [o_u, o_u + p_u) of its shard arrays (o_u = Σ p_v for v &lt; u).
 */
final class UnitLayout {
    final int n, rank, units;
    /** Per parameter k (model order): PyTorch name, shape, unit, first element within its unit. */
    final String[] names;
    final int[][] shapes;
    final int[] unitOfParam, offsetInUnit;
    /** Per unit u: its parameters (model order), L_u, p_u and o_u. */
    final int[][] paramsOf;
    final int[] unitLength, piece, localStart;
    /** Σ p_u: the length of this rank's shard arrays. */
    final int localLength;
    /** The model's unpadded flat layout (what checkpoints use). */
    final List<FlatParameters.Entry> entries;

    UnitLayout(Gpt model, int n, int rank) {
        this.n = n;
        this.rank = rank;
        this.units = model.unitCount();
        Map<String, Tensor> named = model.namedParameters();
        int count = named.size();
        names = new String[count];
        shapes = new int[count][];
        unitOfParam = new int[count];
        offsetInUnit = new int[count];
        unitLength = new int[units];
        int[] paramCount = new int[units];
        entries = new ArrayList<>();
        int k = 0, flat = 0, previous = 0;
        for (Map.Entry<String, Tensor> e : named.entrySet()) {
            int u = model.unitOf(e.getKey());
            if (u < previous) {
                throw new IllegalStateException("parameter " + e.getKey() + " of unit " + u + " comes after unit " + previous
                        + ": units must be contiguous in parameter order");
            }
            previous = u;
            names[k] = e.getKey();
            shapes[k] = e.getValue().shape().clone();
            unitOfParam[k] = u;
            offsetInUnit[k] = unitLength[u];
            unitLength[u] += e.getValue().numel();
            paramCount[u]++;
            entries.add(new FlatParameters.Entry(e.getKey(), flat, shapes[k]));
            flat += e.getValue().numel();
            k++;
        }
        paramsOf = new int[units][];
        for (int u = 0; u < units; u++) paramsOf[u] = new int[paramCount[u]];
        int[] filled = new int[units];
        for (int p = 0; p < count; p++) paramsOf[unitOfParam[p]][filled[unitOfParam[p]]++] = p;
        piece = new int[units];
        localStart = new int[units];
        int total = 0;
        for (int u = 0; u < units; u++) {
            piece[u] = ProcessGroup.shardLength(unitLength[u], n);
            localStart[u] = total;
            total += piece[u];
        }
        localLength = total;
    }

    int count() {
        return names.length;
    }

    /** Elements of unit u's gathered buffer (N·p_u). */
    int gatheredLength(int u) {
        return n * piece[u];
    }

    /** The largest gathered unit, in elements. */
    int largestUnit() {
        int max = 0;
        for (int u = 0; u < units; u++) max = Math.max(max, gatheredLength(u));
        return max;
    }

    int numel(int k) {
        int numel = 1;
        for (int d : shapes[k]) numel *= d;
        return numel;
    }

    /** The parameter of unit u whose elements include {@code offset} (an element of the unit's gathered buffer). */
    int paramAt(int u, int offset) {
        int[] ps = paramsOf[u];
        int lo = 0, hi = ps.length - 1;
        while (lo < hi) { // the last parameter starting at or before offset
            int mid = (lo + hi + 1) >>> 1;
            if (offsetInUnit[ps[mid]] <= offset) lo = mid;
            else hi = mid - 1;
        }
        return ps[lo];
    }

    /**
     * Parameter k's elements this rank owns: {first element within the parameter, count, index in the shard arrays};
     * count 0 when it owns none.
     */
    int[] ownedSlice(int k) {
        int u = unitOfParam[k];
        int lo = Math.max(offsetInUnit[k], rank * piece[u]), hi = Math.min(offsetInUnit[k] + numel(k), (rank + 1) * piece[u]);
        if (hi <= lo) return new int[] {0, 0, 0};
        return new int[] {lo - offsetInUnit[k], hi - lo, localStart[u] + lo - rank * piece[u]};
    }

    /** What this rank's optimizer updates: one segment per unit of the shard arrays, padding left out. */
    Shard shard() {
        int[] starts = new int[units], lengths = new int[units];
        for (int u = 0; u < units; u++) {
            starts[u] = localStart[u];
            lengths[u] = Math.max(0, Math.min(piece[u], unitLength[u] - rank * piece[u]));
        }
        return new Shard(starts, lengths, null, starts.clone());
    }

    /**
     * Per unit u: {flat start of u in the unpadded flat layout, L_u, p_u}. Rank r's segment u of the optimizer holds
     * flat elements [start + r·p_u, start + r·p_u + {@link #shard()}.lengths()[u]).
     */
    int[][] unitLayout() {
        int[][] out = new int[units][];
        for (int u = 0; u < units; u++) {
            int first = paramsOf[u][0], last = paramsOf[u][paramsOf[u].length - 1];
            int start = entries.get(first).offset(), end = entries.get(last).offset() + entries.get(last).numel();
            out[u] = new int[] {start, end - start, piece[u]};
        }
        return out;
    }
}
