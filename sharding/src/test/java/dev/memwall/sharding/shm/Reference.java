package dev.memwall.sharding.shm;

import java.util.Random;

/** Inputs every rank can regenerate from a seed, and sequential references of the collectives over them. */
public final class Reference {
    private Reference() {
    }

    /** Rank {@code rank}'s input of {@code len} floats: wide-ranging values, so summation order shows in the bits. */
    public static float[] input(long seed, int rank, int len) {
        Random rnd = new Random(seed * 1_000_003L + rank);
        float[] x = new float[len];
        for (int i = 0; i < len; i++) x[i] = (float) (rnd.nextGaussian() * Math.pow(10, rnd.nextInt(7) - 3));
        return x;
    }

    /** The inputs of ranks 0…n−1. */
    public static float[][] inputs(long seed, int n, int len) {
        float[][] x = new float[n][];
        for (int r = 0; r < n; r++) x[r] = input(seed, r, len);
        return x;
    }

    /** Σ over ranks in rank order, element by element, starting from rank 0's value. */
    public static float[] sum(float[][] inputs) {
        float[] s = inputs[0].clone();
        for (int r = 1; r < inputs.length; r++) for (int i = 0; i < s.length; i++) s[i] += inputs[r][i];
        return s;
    }
}
