package dev.memwall.checkpoint;

import java.util.ArrayList;
import java.util.List;

/**
 * Which blocks of a sequential model are recomputed: the model's L blocks are cut into consecutive segments, and a
 * checkpointed segment keeps only its input through the forward pass.
 *
 * @param name     shown in reports: NONE, EVERY_LAYER, EVERY_K(k), SQRT, SELECTIVE, BUDGET(bytes)
 * @param segments the segments in order; each {@code [from, to, mode]} with mode {@link #KEEP}, {@link #RECOMPUTE}
 *                 or {@link #SELECTIVE}
 */
public record Policy(String name, List<int[]> segments) {
    /** The segment's blocks keep everything they save. */
    public static final int KEEP = 0;
    /** The segment keeps only its input and runs again in backward (activation checkpointing). */
    public static final int RECOMPUTE = 1;
    /** Each block keeps its input, q/k/v and fc's output, and recomputes the cheap values (see {@code Block}). */
    public static final int SELECTIVE = 2;

    private static final String NAMES = "NONE, EVERY_LAYER, EVERY_K(k), SQRT, SELECTIVE, BUDGET(bytes)";

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

    /** Megatron-style selective recomputation in every block: keep matmul outputs, recompute the cheap values. */
    public static Policy selective(int layers) {
        return new Policy("SELECTIVE", List.of(new int[]{0, layers, SELECTIVE}));
    }

    /** Checkpoint exactly the blocks whose flag is set, each on its own. */
    public static Policy checkpointBlocks(String name, boolean[] recompute) {
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

    /**
     * Parses NONE, EVERY_LAYER, EVERY_K(k) or EVERY_K:k, SQRT, SELECTIVE (case-insensitive). BUDGET needs a plan:
     * see {@link #parseBudget} and {@link Planner}.
     */
    public static Policy parse(String text, int layers) {
        String t = text.trim().toUpperCase(java.util.Locale.ROOT);
        if (t.equals("NONE")) return none(layers);
        if (t.equals("EVERY_LAYER")) return everyLayer(layers);
        if (t.equals("SQRT")) return sqrt(layers);
        if (t.equals("SELECTIVE")) return selective(layers);
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("EVERY_K[(:](\\d+)\\)?").matcher(t);
        if (m.matches()) return everyK(layers, Integer.parseInt(m.group(1)));
        if (parseBudget(text) != null) throw new IllegalArgumentException("BUDGET needs a profile and a plan: see Planner");
        throw new IllegalArgumentException("unknown checkpoint policy '" + text + "' (" + NAMES + ")");
    }

    /**
     * The byte budget of {@code BUDGET(bytes)} or {@code BUDGET:bytes} (a size as {@link #parseBytes} reads it), or
     * null when {@code text} is not a BUDGET policy.
     *
     * @throws IllegalArgumentException for a BUDGET with a malformed or non-positive size
     */
    public static Long parseBudget(String text) {
        String t = text.trim().toUpperCase(java.util.Locale.ROOT);
        if (!t.startsWith("BUDGET")) return null;
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("BUDGET(?:\\((.*)\\)|:(.*))").matcher(t);
        try {
            if (!m.matches()) throw new IllegalArgumentException("no size");
            return parseBytes(m.group(1) != null ? m.group(1) : m.group(2));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("BUDGET needs a positive size in bytes, as BUDGET(300000000), BUDGET(300MiB) "
                    + "or BUDGET:300M; got '" + text + "'");
        }
    }

    /**
     * A positive size in bytes: digits (with optional {@code _} or {@code ,} separators) and an optional K/M/G,
     * KB/MB/GB or KiB/MiB/GiB suffix, all binary multiples.
     *
     * @throws IllegalArgumentException when {@code text} is not such a size or does not fit in a long
     */
    public static long parseBytes(String text) {
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("\\s*([0-9_,]+)\\s*(K|M|G|KB|MB|GB|KIB|MIB|GIB)?\\s*")
                .matcher(text.toUpperCase(java.util.Locale.ROOT));
        if (!m.matches()) throw new IllegalArgumentException("not a size in bytes: '" + text + "'");
        long scale = switch (m.group(2) == null ? "" : m.group(2)) {
            case "K", "KB", "KIB" -> 1L << 10;
            case "M", "MB", "MIB" -> 1L << 20;
            case "G", "GB", "GIB" -> 1L << 30;
            default -> 1L;
        };
        long n;
        try {
            n = Long.parseLong(m.group(1).replace("_", "").replace(",", ""));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("size out of range: '" + text + "'");
        }
        if (n <= 0 || n > Long.MAX_VALUE / scale) throw new IllegalArgumentException("size must be positive and below 2^63 bytes: '" + text + "'");
        return n * scale;
    }

    /**
     * Checks that the segments cover blocks [0, {@code layers}) exactly: in order, each non-empty, none overlapping or
     * leaving a gap, each with a known mode. A policy made for another depth would otherwise skip blocks silently.
     *
     * @throws IllegalArgumentException naming the first segment that is wrong
     */
    public void requireCovers(int layers) {
        int next = 0;
        for (int[] s : segments) {
            String what = "checkpoint policy " + name + ": segment " + java.util.Arrays.toString(s);
            if (s == null || s.length != 3) throw new IllegalArgumentException(what + " is not [from, to, mode]");
            if (s[0] != next) {
                throw new IllegalArgumentException(what + (s[0] > next ? " leaves blocks [" + next + ", " + s[0] + ") out" : " overlaps the segment before it")
                        + " (the model has " + layers + " blocks)");
            }
            if (s[1] <= s[0]) throw new IllegalArgumentException(what + " is empty");
            if (s[2] != KEEP && s[2] != RECOMPUTE && s[2] != SELECTIVE) throw new IllegalArgumentException(what + " has unknown mode " + s[2]);
            next = s[1];
        }
        if (next != layers) {
            throw new IllegalArgumentException("checkpoint policy " + name + " covers blocks [0, " + next + ") but the model has "
                    + layers + " blocks");
        }
    }

    public boolean checkpointsAnything() {
        for (int[] s : segments) if (s[2] != 0) return true;
        return false;
    }

    /** A readable plan: which blocks are kept and which are recomputed. */
    public String describe() {
        StringBuilder sb = new StringBuilder(name).append(": ");
        for (int[] s : segments) {
            sb.append(switch (s[2]) {
                case RECOMPUTE -> "recompute";
                case SELECTIVE -> "selective";
                default -> "keep";
            }).append(" [").append(s[0]).append(", ").append(s[1]).append(") ");
        }
        return sb.toString().trim();
    }
}
