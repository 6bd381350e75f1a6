package dev.memwall.sharding;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * A fixed sequence of {@link ProcessGroup#allReduceMax} calls that every backend's test runs on every rank, and its
 * sequential reference: each element the largest of the ranks' values, NaN if any rank holds NaN there. The inputs
 * mix signs, both zeros, infinities and a NaN on one rank only (the last, so a reduction that lets the first operand
 * win would miss it); sizes include 0, 1, sizes not divisible by N and sizes spanning several rounds of a small slot.
 */
public final class MaxScript {
    public static final int[] LENGTHS = {0, 1, 7, 130, 1001};

    private MaxScript() {
    }

    /** The script's results on rank {@code rank} of {@code n}: through {@code g}, or the reference when g is null. */
    public static List<float[]> run(int rank, int n, long seed, ProcessGroup g) {
        List<float[]> out = new ArrayList<>();
        for (int len : LENGTHS) {
            float[][] in = inputs(seed + len, n, len);
            float[] x = in[rank].clone();
            if (g != null) {
                g.allReduceMax(x, 0, len);
            } else {
                for (int i = 0; i < len; i++) {
                    float m = in[0][i];
                    boolean nan = Float.isNaN(m);
                    for (int r = 1; r < n; r++) {
                        nan |= Float.isNaN(in[r][i]);
                        if (in[r][i] > m || (in[r][i] == 0 && m == 0 && Float.floatToRawIntBits(m) != 0)) m = in[r][i];
                    }
                    x[i] = nan ? Float.NaN : m;
                }
            }
            out.add(x);
        }
        return out;
    }

    /** Ring-equivalent bytes one rank of n sends (= receives) in the script. */
    public static long volume(int n) {
        long b = 0;
        for (int len : LENGTHS) b += RingVolumes.allReduce(len, n).sent();
        return b;
    }

    static float[][] inputs(long seed, int n, int len) {
        Random rnd = new Random(seed);
        float[][] in = new float[n][len];
        for (int r = 0; r < n; r++) {
            for (int i = 0; i < len; i++) {
                in[r][i] = switch (i % 11) {
                    case 0 -> r % 2 == 0 ? -0f : 0f;
                    case 1 -> r == 0 ? Float.POSITIVE_INFINITY : (float) rnd.nextGaussian();
                    case 2 -> Float.NEGATIVE_INFINITY;
                    case 3 -> r == n - 1 ? Float.NaN : (float) rnd.nextGaussian();
                    default -> (float) rnd.nextGaussian() * 100;
                };
            }
        }
        return in;
    }
}
