package dev.memwall.rng;

/**
 * A counter-based random generator: value i of a stream is a SplitMix64 hash of (seed, counter + i). The whole state
 * is two longs, so it can be captured and restored exactly ({@link #state()}, {@link #restore(State)}) — which is
 * what lets activation checkpointing replay identical dropout masks — and a block of values can be produced in
 * parallel without changing the result.
 */
public final class Rng {
    private static final Rng DEFAULT = new Rng(0x5EED);

    private long seed;
    private long counter;

    public Rng(long seed) {
        this.seed = seed;
    }

    /** The process-wide generator used by ops when none is passed (dropout, initialisation helpers). */
    public static Rng defaultRng() {
        return DEFAULT;
    }

    /** Captured generator state. */
    public record State(long seed, long counter) {
    }

    public synchronized State state() {
        return new State(seed, counter);
    }

    public synchronized void restore(State s) {
        seed = s.seed();
        counter = s.counter();
    }

    public synchronized void manualSeed(long s) {
        seed = s;
        counter = 0;
    }

    /** Reserves {@code n} consecutive counter values and returns the first. */
    public synchronized long advance(long n) {
        long c = counter;
        counter += n;
        return c;
    }

    public static long mix(long seed, long index) {
        long z = seed * 0x9E3779B97F4A7C15L + index * 0xBF58476D1CE4E5B9L + 0x632BE59BD9B4E019L;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    /** Uniform float in [0, 1) with 24 random bits. */
    public static float uniform(long seed, long index) {
        return (mix(seed, index) >>> 40) * 0x1.0p-24f;
    }

    public synchronized long seed() {
        return seed;
    }

    public long nextLong() {
        long c = advance(1);
        return mix(seed(), c);
    }

    public float nextFloat() {
        long c = advance(1);
        return uniform(seed(), c);
    }

    public int nextInt(int bound) {
        if (bound <= 0) throw new IllegalArgumentException("bound must be positive: " + bound);
        return (int) Math.floorMod(nextLong(), (long) bound);
    }

    public void fillUniform(float[] out, int off, int n, float lo, float hi) {
        long s = seed(), c = advance(n);
        for (int i = 0; i < n; i++) out[off + i] = lo + (hi - lo) * uniform(s, c + i);
    }

    /** Standard normal values (Box–Muller on pairs of uniforms) times {@code std}. */
    public void fillNormal(float[] out, int off, int n, float std) {
        long s = seed(), c = advance(2L * n);
        for (int i = 0; i < n; i++) {
            double u1 = ((mix(s, c + 2L * i) >>> 11) + 1) * 0x1.0p-53;
            double u2 = (mix(s, c + 2L * i + 1) >>> 11) * 0x1.0p-53;
            out[off + i] = (float) (std * Math.sqrt(-2.0 * Math.log(u1)) * Math.cos(2 * Math.PI * u2));
        }
    }
}
