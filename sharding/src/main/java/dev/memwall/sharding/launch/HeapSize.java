package dev.memwall.sharding.launch;

import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** A heap size as {@code -Xmx} takes it: a positive number of bytes with an optional k, m, g or t suffix. */
public final class HeapSize {
    private static final Pattern SIZE = Pattern.compile("([0-9]{1,15})([kmgt]?)");

    private HeapSize() {
    }

    /** The size in bytes; {@link IllegalArgumentException} naming the value when it is not a size like 512m or 2g. */
    public static long parse(String text) {
        Matcher m = SIZE.matcher(text == null ? "" : text.trim().toLowerCase(Locale.ROOT));
        if (!m.matches()) throw new IllegalArgumentException("heap size '" + text + "': expected a number with an optional k, m, g or t suffix, like 512m or 2g");
        long n = Long.parseLong(m.group(1));
        int shift = switch (m.group(2)) {
            case "k" -> 10;
            case "m" -> 20;
            case "g" -> 30;
            case "t" -> 40;
            default -> 0;
        };
        if (n == 0) throw new IllegalArgumentException("heap size '" + text + "': must be more than zero");
        if (n > (Long.MAX_VALUE >> shift)) throw new IllegalArgumentException("heap size '" + text + "': too large");
        return n << shift;
    }

    /** The {@code -Xmx} option for {@code bytes}, in the largest unit that divides it exactly. */
    static String xmx(long bytes) {
        for (String unit : new String[]{"g", "m", "k"}) {
            int shift = unit.equals("g") ? 30 : unit.equals("m") ? 20 : 10;
            if (bytes % (1L << shift) == 0) return "-Xmx" + (bytes >> shift) + unit;
        }
        return "-Xmx" + bytes;
    }
}
