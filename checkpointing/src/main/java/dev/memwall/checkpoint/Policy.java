package dev.memwall.checkpoint;

import java.util.ArrayList;
import java.util.List;

/**
 * Which blocks of a sequential model are recomputed: the model's L blocks are cut into consecutive segments, and a
 * checkpointed segment keeps only its input through the forward pass.
 *
 * @param name     shown in reports: NONE, EVERY_LAYER, EVERY_K(k), SQRT, BUDGET(bytes)
 * @param segments the segments in order; each {@code [from, to, checkpointed]}
 */
public record Policy(String name, List<int[]> segments) {
    public static Policy none(int layers) {
        return new Policy("NONE", List.of(new int[]{0, layers, 0}));
    }

    public static Policy everyLayer(int layers) {
        Policy p = everyK(layers, 1);
        return new Policy("EVERY_LAYER", p.segments());
    }

    /** Segments of {@code k} blocks (the last may be shorter), each checkpointed as a whole. */
    public static Policy everyK(int layers, int k) {
        if (k < 1) throw new IllegalArgumentException("EVERY_K needs k >= 1, got " + k);
        List<int[]> s = new ArrayList<>();
        for (int i = 0; i < layers; i += k) s.add(new int[]{i, Math.min(layers, i + k), 1});
        return new Policy("EVERY_K(" + k + ")", s);
    }

    /** Segments of about √L blocks (Chen et al. 2016): √L kept inputs, and one segment's activations in backward. */
    public static Policy sqrt(int layers) {
        int k = Math.max(1, (int) Math.round(Math.sqrt(layers)));
        return new Policy("SQRT", everyK(layers, k).segments());
    }

    /** Checkpoint exactly the blocks whose flag is set, each on its own. */
    public static Policy ofKept(String name, boolean[] recompute) {
        List<int[]> s = new ArrayList<>();
        int i = 0;
        while (i < recompute.length) {
            int j = i;
            if (recompute[i]) {
                s.add(new int[]{i, i + 1, 1});
                i++;
                continue;
            }
            while (j < recompute.length && !recompute[j]) j++;
            s.add(new int[]{i, j, 0});
            i = j;
        }
        return new Policy(name, s);
    }

    /** Parses NONE, EVERY_LAYER, EVERY_K(k) or EVERY_K:k, SQRT (case-insensitive). BUDGET needs a plan: see {@link Planner}. */
    public static Policy parse(String text, int layers) {
        String t = text.trim().toUpperCase(java.util.Locale.ROOT);
        if (t.equals("NONE")) return none(layers);
        if (t.equals("EVERY_LAYER")) return everyLayer(layers);
        if (t.equals("SQRT")) return sqrt(layers);
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("EVERY_K[(:](\\d+)\\)?").matcher(t);
        if (m.matches()) return everyK(layers, Integer.parseInt(m.group(1)));
        throw new IllegalArgumentException("unknown checkpoint policy '" + text + "' (NONE, EVERY_LAYER, EVERY_K(k), SQRT, BUDGET)");
    }

    public boolean checkpointsAnything() {
        for (int[] s : segments) if (s[2] != 0) return true;
        return false;
    }

    /** A readable plan: which blocks are kept and which are recomputed. */
    public String describe() {
        StringBuilder sb = new StringBuilder(name).append(": ");
        for (int[] s : segments) {
            sb.append(s[2] != 0 ? "recompute" : "keep").append(" [").append(s[0]).append(", ").append(s[1]).append(") ");
        }
        return sb.toString().trim();
    }
}
