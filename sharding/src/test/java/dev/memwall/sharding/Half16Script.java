package dev.memwall.sharding;

import dev.memwall.format.Bf16;
import dev.memwall.format.Fp16;
import dev.memwall.format.Overflow;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * A fixed sequence of 16-bit collectives that every backend's test runs on every rank, and its sequential reference:
 * each reduced element is every rank's value decoded, added in FP32 in rank order and rounded once to the format.
 * Sizes include 0, 1, sizes not divisible by N and sizes spanning several rounds of a small slot.
 */
public final class Half16Script {
    /** All-reduce lengths (BF16), then one FP16 all-reduce of {@link #FP16_LEN}. */
    public static final int[] ALL_REDUCE = {0, 1, 7, 1001, 70_001};
    public static final int FP16_LEN = 999;
    /** Reduce-scatter and all-gather shard lengths. */
    public static final int[] SHARDS = {3, 20_003};

    private Half16Script() {
    }

    /** The script's results on rank {@code rank} of {@code n}: through {@code g}, or the reference when g is null. */
    public static List<short[]> run(int rank, int n, long seed, ProcessGroup g) {
        List<short[]> out = new ArrayList<>();
        for (int len : ALL_REDUCE) out.add(allReduce(rank, n, seed + len, len, HalfFormat.BF16, g));
        out.add(allReduce(rank, n, seed - 1, FP16_LEN, HalfFormat.FP16, g));
        for (int shard : SHARDS) {
            short[][] in = inputs(seed + 2 * shard, n, n * shard, HalfFormat.BF16);
            short[] o = new short[shard];
            if (g != null) {
                g.reduceScatter16(in[rank].clone(), 0, o, 0, shard, HalfFormat.BF16);
            } else {
                short[] sum = sum(in, HalfFormat.BF16);
                System.arraycopy(sum, rank * shard, o, 0, shard);
            }
            out.add(o);
        }
        for (int shard : SHARDS) {
            short[][] in = inputs(seed + 3 * shard, n, shard, HalfFormat.BF16);
            short[] o = new short[n * shard];
            if (g != null) g.allGather16(in[rank], 0, o, 0, shard);
            else for (int r = 0; r < n; r++) System.arraycopy(in[r], 0, o, r * shard, shard);
            out.add(o);
        }
        return out;
    }

    /** Ring-equivalent bytes {sent, received} the script counts on a rank of n. */
    public static long[] volume(int n) {
        long b = 0;
        for (int len : ALL_REDUCE) b += RingVolumes.allReduce16(len, n).sent();
        b += RingVolumes.allReduce16(FP16_LEN, n).sent();
        for (int shard : SHARDS) b += 2 * RingVolumes.shards16(shard, n).sent();
        return new long[] {b, b};
    }

    /** Calls the script makes. */
    public static int calls() {
        return ALL_REDUCE.length + 1 + 2 * SHARDS.length;
    }

    private static short[] allReduce(int rank, int n, long seed, int len, HalfFormat f, ProcessGroup g) {
        short[][] in = inputs(seed, n, len, f);
        if (g == null) return sum(in, f);
        short[] buf = new short[len + 2]; // at an offset, a guard cell on either side
        System.arraycopy(in[rank], 0, buf, 1, len);
        buf[0] = buf[len + 1] = 0x1234;
        g.allReduce16(buf, 1, len, f);
        if (buf[0] != 0x1234 || buf[len + 1] != 0x1234) throw new AssertionError("allReduce16 wrote outside its range");
        return java.util.Arrays.copyOfRange(buf, 1, len + 1);
    }

    /** Rank r's 16-bit inputs: wide-ranging values for BF16 (so rounding once or per add differ), moderate for FP16. */
    public static short[][] inputs(long seed, int n, int len, HalfFormat f) {
        short[][] x = new short[n][len];
        for (int r = 0; r < n; r++) {
            Random rnd = new Random(seed * 1_000_003L + r);
            for (int i = 0; i < len; i++) {
                float v = (float) (rnd.nextGaussian() * (f == HalfFormat.BF16 ? Math.pow(10, rnd.nextInt(7) - 3) : 10));
                x[r][i] = f == HalfFormat.BF16 ? Bf16.fromFloat(v, Overflow.NON_SATURATE) : Fp16.fromFloat(v, Overflow.NON_SATURATE);
            }
        }
        return x;
    }

    /** The reference: decode, add in FP32 in rank order, encode once. */
    public static short[] sum(short[][] in, HalfFormat f) {
        short[] s = new short[in[0].length];
        for (int i = 0; i < s.length; i++) {
            float acc = decode(in[0][i], f);
            for (int r = 1; r < in.length; r++) acc += decode(in[r][i], f);
            s[i] = f == HalfFormat.BF16 ? Bf16.fromFloat(acc, Overflow.NON_SATURATE) : Fp16.fromFloat(acc, Overflow.NON_SATURATE);
        }
        return s;
    }

    private static float decode(short bits, HalfFormat f) {
        return f == HalfFormat.BF16 ? Bf16.toFloat(bits) : Fp16.toFloat(bits);
    }
}
