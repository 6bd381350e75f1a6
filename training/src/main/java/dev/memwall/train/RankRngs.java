package dev.memwall.train;

import dev.memwall.rng.Rng;
import dev.memwall.sharding.ProcessGroup;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Every rank's RNG states, gathered so that rank 0 can record them, and the state a rank restores on resume.
 *
 * <p>Streams the same on every saved rank (the data stream: every rank draws the same global batch) are restored as
 * they are on any world size. Streams that differ per rank (each rank's dropout stream) are restored to the same rank
 * when it existed; a rank beyond the saved world size gets rank 0's stream keyed by its rank (a stream of its own, so
 * no two ranks draw the same masks). A single-process checkpoint cannot tell a per-rank stream from a shared one, so
 * every rank of a job resumed from it restores the same state.
 */
final class RankRngs {
    /** A long crosses the float collective as four 16-bit pieces, each an exactly representable float. */
    private static final int PIECES = 4;

    private RankRngs() {
    }

    /** Collective: every rank's states of {@code rngs} (the same names on every rank), in rank order. */
    static List<Map<String, Rng.State>> gather(ProcessGroup group, Map<String, Rng> rngs) {
        List<String> names = new ArrayList<>(new TreeMap<>(rngs).keySet());
        int per = names.size() * 2 * PIECES, n = group.worldSize();
        float[] mine = new float[Math.max(1, per)], all = new float[mine.length * n];
        for (int i = 0; i < names.size(); i++) {
            Rng.State s = rngs.get(names.get(i)).state();
            put(mine, (2 * i) * PIECES, s.seed());
            put(mine, (2 * i + 1) * PIECES, s.counter());
        }
        group.allGather(mine, 0, all, 0, mine.length);
        List<Map<String, Rng.State>> out = new ArrayList<>();
        for (int r = 0; r < n; r++) {
            Map<String, Rng.State> m = new TreeMap<>();
            int base = r * mine.length;
            for (int i = 0; i < names.size(); i++) {
                m.put(names.get(i), new Rng.State(get(all, base + 2 * i * PIECES), get(all, base + (2 * i + 1) * PIECES)));
            }
            out.add(m);
        }
        return out;
    }

    /** The state rank {@code rank} restores for stream {@code name}, saved as {@code saved} (one map per saved rank). */
    static Rng.State restoreFor(List<Map<String, Rng.State>> saved, String name, int rank) {
        Rng.State first = saved.get(0).get(name);
        boolean shared = saved.stream().allMatch(m -> first.equals(m.get(name)));
        if (shared) return first;
        if (rank < saved.size()) return saved.get(rank).get(name);
        return new Rng.State(Rng.mix(first.seed(), rank), first.counter());
    }

    private static void put(float[] out, int at, long v) {
        for (int k = 0; k < PIECES; k++) out[at + k] = (float) ((v >>> (16 * k)) & 0xFFFF);
    }

    private static long get(float[] in, int at) {
        long v = 0;
        for (int k = 0; k < PIECES; k++) v |= ((long) in[at + k]) << (16 * k);
        return v;
    }
}
