package dev.memwall.generate;

import dev.memwall.rng.Rng;

import java.util.Arrays;
import java.util.Comparator;
import java.util.stream.IntStream;

/**
 * Picks the next token from a row of logits. Temperature 0 is greedy (the largest logit, the lowest id on a tie);
 * otherwise the logits divided by the temperature are softmaxed over the top-k tokens (k = 0: all of them) and one is
 * drawn with one uniform from {@code rng}, so a seed gives the same text every time. Top-k 1 is greedy at any
 * temperature.
 */
public final class Sampler {
    private final float temperature;
    private final int topK;
    private final Rng rng;

    public Sampler(float temperature, int topK, Rng rng) {
        if (!(temperature >= 0f) || Float.isInfinite(temperature)) throw new IllegalArgumentException("temperature must be finite and >= 0: " + temperature);
        if (topK < 0) throw new IllegalArgumentException("top-k must be >= 0 (0 keeps every token): " + topK);
        this.temperature = temperature;
        this.topK = topK;
        this.rng = rng;
    }

    /** The greedy choice: the index of the largest of logits[off, off + n), the lowest on a tie. */
    public static int argmax(float[] logits, int off, int n) {
        int best = 0;
        for (int i = 1; i < n; i++) if (logits[off + i] > logits[off + best]) best = i;
        return best;
    }

    /** A token in [0, n) drawn from logits[off, off + n). */
    public int sample(float[] logits, int off, int n) {
        if (topK > n) throw new IllegalArgumentException("top-k " + topK + " exceeds the vocabulary of " + n);
        if (temperature == 0f || topK == 1) return argmax(logits, off, n);
        int k = topK == 0 ? n : topK;
        // Candidates by logit, largest first (lower id first on a tie, as argmax); a full sort of 256 is nothing here.
        Integer[] order = IntStream.range(0, n).boxed().toArray(Integer[]::new);
        Arrays.sort(order, Comparator.<Integer>comparingDouble(i -> -logits[off + i]).thenComparingInt(i -> i));
        double max = logits[off + order[0]], total = 0;
        double[] weight = new double[k];
        for (int j = 0; j < k; j++) {
            weight[j] = Math.exp((logits[off + order[j]] - max) / temperature);
            total += weight[j];
        }
        double u = rng.nextFloat() * total, acc = 0;
        for (int j = 0; j < k; j++) {
            acc += weight[j];
            if (u < acc) return order[j];
        }
        return order[k - 1]; // u rounded up to the total
    }
}
