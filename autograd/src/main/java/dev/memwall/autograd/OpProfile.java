package dev.memwall.autograd;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeMap;

/**
 * Opt-in wall time per backward rule, by node name ({@code -Dmemwall.profile=true} or {@link #enable}): which ops
 * the backward pass spends its time in. Off, it costs one branch per node.
 */
public final class OpProfile {
    private static volatile boolean enabled = Boolean.getBoolean("memwall.profile");
    private static final Map<String, long[]> TIMES = new TreeMap<>();

    private OpProfile() {
    }

    public static void enable(boolean on) {
        enabled = on;
    }

    public static boolean enabled() {
        return enabled;
    }

    static synchronized void record(String name, long nanos) {
        long[] t = TIMES.computeIfAbsent(name, k -> new long[2]);
        t[0] += nanos;
        t[1]++;
    }

    /** Milliseconds and call counts per node name since the last reset, largest first. */
    public static synchronized Map<String, double[]> snapshot() {
        Map<String, double[]> out = new LinkedHashMap<>();
        TIMES.entrySet().stream().sorted((a, b) -> Long.compare(b.getValue()[0], a.getValue()[0]))
                .forEach(e -> out.put(e.getKey(), new double[]{e.getValue()[0] / 1e6, e.getValue()[1]}));
        return out;
    }

    public static synchronized void reset() {
        TIMES.clear();
    }
}
