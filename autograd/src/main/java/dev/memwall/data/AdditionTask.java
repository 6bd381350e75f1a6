package dev.memwall.data;

import dev.memwall.autograd.GradMode;
import dev.memwall.autograd.Guard;
import dev.memwall.autograd.Scope;
import dev.memwall.nn.Gpt;
import dev.memwall.rng.Rng;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Synthetic multi-digit addition, the built-in task that needs no download. With {@code digits = d}, the pair
 * (a, b) is one row of {@link #context()} {@code = L = 3d + 4} bytes:
 * <pre>
 *   a (d digits, zero-padded) '+' b (d digits, zero-padded) '='  answer (d+1 digits)  '\n'
 *   e.g. d = 3, 123 + 45 = 168:   "123+045=8610\n"
 * </pre>
 * <b>Answer convention:</b> the sum zero-padded to d+1 digits ("0168") written <i>least significant digit first</i>
 * ("8610"). Emitting the ones digit first lets a small causal model compute each digit from the operand digits and
 * the carry of the digit it has just written. Every row has the same length, so no padding byte is needed.
 *
 * <p><b>Targets:</b> position t targets byte t+1 only where that byte is an answer digit or the terminator, i.e. the
 * d+2 positions from the '=' to the last answer digit; every other target is {@link Batch#IGNORE}, so the loss
 * measures the answer only.
 *
 * <p><b>Split:</b> a pair is held out when a SplitMix64 hash of (splitSeed, a·10^d + b) falls below
 * {@code heldOutFraction} (10% by default). For d ≤ 2 all pairs are enumerated into the two sets; for larger d,
 * training pairs are drawn uniformly and held-out ones rejected, and the held-out examples are the held-out pairs of
 * a fixed hash stream, in order, without repeats. No held-out pair is ever produced by {@link #trainBatch}.
 */
public final class AdditionTask {
    public static final int TERMINATOR = '\n';
    public static final double DEFAULT_HELD_OUT_FRACTION = 0.1;
    public static final long DEFAULT_SPLIT_SEED = 0xADD1_7105L;

    private final int digits;
    private final long n;
    private final double heldOutFraction;
    private final long splitSeed;
    private final long[] trainPairs;            // enumerated (digits <= 2) or null
    private final List<Long> heldOut = new ArrayList<>();
    private final Set<Long> heldOutSeen = new HashSet<>();
    private final boolean enumerated;
    private long streamCounter;

    public AdditionTask(int digits) {
        this(digits, DEFAULT_HELD_OUT_FRACTION, DEFAULT_SPLIT_SEED);
    }

    public AdditionTask(int digits, double heldOutFraction, long splitSeed) {
        if (digits < 1 || digits > 9) throw new IllegalArgumentException("digits must be in 1..9: " + digits);
        if (!(heldOutFraction > 0 && heldOutFraction < 1)) {
            throw new IllegalArgumentException("heldOutFraction must be in (0, 1): " + heldOutFraction);
        }
        this.digits = digits;
        this.n = pow10(digits);
        this.heldOutFraction = heldOutFraction;
        this.splitSeed = splitSeed;
        this.enumerated = digits <= 2;
        if (enumerated) {
            List<Long> train = new ArrayList<>();
            for (long key = 0; key < n * n; key++) (isHeldOutKey(key) ? heldOut : train).add(key);
            if (train.isEmpty() || heldOut.isEmpty()) {
                throw new IllegalArgumentException("split of " + n * n + " pairs with heldOutFraction " + heldOutFraction
                        + " leaves " + train.size() + " train and " + heldOut.size() + " held-out pairs; both must be non-empty");
            }
            trainPairs = train.stream().mapToLong(Long::longValue).toArray();
        } else {
            trainPairs = null;
        }
    }

    public int digits() {
        return digits;
    }

    /** Row length L = 2·digits + 2 + (digits + 1) + 1: the context a model needs for this task. */
    public int context() {
        return 3 * digits + 4;
    }

    /** Index of the first answer byte in a row (the prompt is {@code answerStart()} bytes long). */
    public int answerStart() {
        return 2 * digits + 2;
    }

    /** Number of held-out pairs for digits ≤ 2; -1 (not enumerated, practically unbounded) for larger digits. */
    public int heldOutSize() {
        return enumerated ? heldOut.size() : -1;
    }

    public boolean isHeldOut(int a, int b) {
        checkOperand(a);
        checkOperand(b);
        return isHeldOutKey(a * n + b);
    }

    /** The answer bytes as text: the sum, zero-padded to digits+1, reversed ("8610" for 123 + 45 with 3 digits). */
    public String answer(int a, int b) {
        checkOperand(a);
        checkOperand(b);
        String padded = String.format("%0" + (digits + 1) + "d", (long) a + b);
        return new StringBuilder(padded).reverse().toString();
    }

    /** The prompt as text: "123+045=". */
    public String prompt(int a, int b) {
        checkOperand(a);
        checkOperand(b);
        String f = "%0" + digits + "d";
        return String.format(f, a) + "+" + String.format(f, b) + "=";
    }

    /** The full row of {@link #context()} bytes for (a, b). */
    public int[] encode(int a, int b) {
        String s = prompt(a, b) + answer(a, b) + (char) TERMINATOR;
        int[] row = new int[context()];
        for (int i = 0; i < row.length; i++) row[i] = s.charAt(i);
        return row;
    }

    /** {@code batch} training examples drawn with {@code rng}; never a held-out pair. */
    public Batch trainBatch(int batch, Rng rng) {
        if (batch <= 0) throw new IllegalArgumentException("batch must be positive: " + batch);
        long[] keys = new long[batch];
        for (int r = 0; r < batch; r++) {
            if (enumerated) {
                keys[r] = trainPairs[rng.nextInt(trainPairs.length)];
            } else {
                long key;
                do key = rng.nextInt((int) n) * n + rng.nextInt((int) n); while (isHeldOutKey(key));
                keys[r] = key;
            }
        }
        return batchOf(keys);
    }

    /** Held-out examples {@code index·batch .. index·batch + batch − 1} (wrapping around the held-out set for digits ≤ 2). */
    public Batch evalBatch(int index, int batch) {
        if (batch <= 0) throw new IllegalArgumentException("batch must be positive: " + batch);
        if (index < 0) throw new IndexOutOfBoundsException("batch index must be non-negative: " + index);
        long first = (long) index * batch;
        long[] keys = new long[batch];
        for (int r = 0; r < batch; r++) keys[r] = heldOutKey(first + r);
        return batchOf(keys);
    }

    /** Fraction of held-out examples whose greedily decoded answer is exactly right; see {@link #exactMatchAccuracy(NextByte, int, int)}. */
    public double exactMatchAccuracy(Gpt model, int examples, int batchSize) {
        if (model.config().context() < context()) {
            throw new IllegalArgumentException("model context " + model.config().context() + " is shorter than the task's " + context());
        }
        return exactMatchAccuracy(NextByte.greedy(model), examples, batchSize);
    }

    /**
     * Feeds the prompts of the first {@code examples} held-out examples (at most {@link #heldOutSize()} when the set is
     * enumerated) and decodes the digits+1 answer bytes autoregressively, each from the prefix decoded so far;
     * returns the fraction whose whole answer equals the true one. Runs under no-grad, one {@link Scope} per batch.
     */
    public double exactMatchAccuracy(NextByte predictor, int examples, int batchSize) {
        if (examples <= 0 || batchSize <= 0) {
            throw new IllegalArgumentException("examples and batchSize must be positive: " + examples + ", " + batchSize);
        }
        int total = enumerated ? Math.min(examples, heldOut.size()) : examples;
        int correct = 0;
        for (int start = 0; start < total; start += batchSize) {
            int rows = Math.min(batchSize, total - start);
            long[] keys = new long[rows];
            for (int r = 0; r < rows; r++) keys[r] = heldOutKey(start + r);
            try (Scope scope = Scope.open(); Guard g = GradMode.noGrad()) {
                int[][] decoded = decode(predictor, keys);
                for (int r = 0; r < rows; r++) {
                    int[] row = encode(a(keys[r]), b(keys[r]));
                    boolean ok = true;
                    for (int k = 0; k <= digits; k++) ok &= decoded[r][k] == row[answerStart() + k];
                    if (ok) correct++;
                }
            }
        }
        return (double) correct / total;
    }

    /** "123+045=168": the prompt followed by the model's greedy answer, un-reversed, leading zeros stripped. */
    public String sampleCompletion(Gpt model, int a, int b) {
        return completion(NextByte.greedy(model), a, b);
    }

    /** Like {@link #sampleCompletion(Gpt, int, int)} for any predictor; non-digit bytes are shown escaped. */
    public String completion(NextByte predictor, int a, int b) {
        checkOperand(a);
        checkOperand(b);
        int[] answer;
        try (Scope scope = Scope.open(); Guard g = GradMode.noGrad()) {
            answer = decode(predictor, new long[]{a * n + b})[0];
        }
        StringBuilder s = new StringBuilder();
        boolean digitsOnly = true;
        for (int k = answer.length - 1; k >= 0; k--) {
            s.append(render(new int[]{answer[k]}));
            digitsOnly &= answer[k] >= '0' && answer[k] <= '9';
        }
        String sum = digitsOnly ? s.toString().replaceFirst("^0+(?=.)", "") : s.toString();
        return prompt(a, b) + sum;
    }

    /** Row {@code row} of a batch as readable text ("123+045=8610\n" with the newline escaped). */
    public static String decodeExample(Batch batch, int row) {
        return render(batch.rowIds(row));
    }

    /** Bytes as text: printable ASCII as is, '\n' as "\\n", anything else as "\\xNN". */
    public static String render(int[] bytes) {
        StringBuilder s = new StringBuilder();
        for (int c : bytes) {
            if (c == '\n') s.append("\\n");
            else if (c >= 32 && c < 127) s.append((char) c);
            else s.append(String.format("\\x%02X", c & 0xFF));
        }
        return s.toString();
    }

    @Override
    public String toString() {
        return "AdditionTask[digits=" + digits + ", context=" + context() + ", heldOutFraction=" + heldOutFraction + "]";
    }

    // ---------------------------------------------------------------- internals

    /** Answer bytes [keys.length][digits+1], each decoded from the prompt plus the answer bytes decoded before it. */
    private int[][] decode(NextByte predictor, long[] keys) {
        int rows = keys.length, start = answerStart();
        int[][] out = new int[rows][digits + 1];
        int[] prefixes = new int[rows * start];
        for (int r = 0; r < rows; r++) System.arraycopy(encode(a(keys[r]), b(keys[r])), 0, prefixes, r * start, start);
        for (int k = 0, width = start; k <= digits; k++, width++) {
            int[] next = predictor.next(prefixes, rows, width);
            if (next == null || next.length != rows) throw new IllegalStateException("predictor must return " + rows + " bytes");
            int[] grown = new int[rows * (width + 1)];
            for (int r = 0; r < rows; r++) {
                out[r][k] = next[r];
                System.arraycopy(prefixes, r * width, grown, r * (width + 1), width);
                grown[r * (width + 1) + width] = next[r];
            }
            prefixes = grown;
        }
        return out;
    }

    private Batch batchOf(long[] keys) {
        int l = context(), eq = answerStart() - 1;
        int[] ids = new int[keys.length * l], targets = new int[keys.length * l];
        for (int r = 0; r < keys.length; r++) {
            int[] row = encode(a(keys[r]), b(keys[r]));
            System.arraycopy(row, 0, ids, r * l, l);
            for (int t = 0; t < l; t++) targets[r * l + t] = t >= eq && t < l - 1 ? row[t + 1] : Batch.IGNORE;
        }
        return new Batch(ids, targets, keys.length, l);
    }

    private synchronized long heldOutKey(long i) {
        if (enumerated) return heldOut.get((int) (i % heldOut.size()));
        if (i > Integer.MAX_VALUE - 8) throw new IndexOutOfBoundsException("held-out example " + i + " is too far");
        long limit = streamCounter + 1000L * (i + 1 - heldOut.size()) + 1_000_000L;
        while (heldOut.size() <= i) {
            if (streamCounter > limit) throw new IllegalStateException("cannot find " + (i + 1) + " distinct held-out pairs");
            long c = streamCounter++;
            long key = Math.floorMod(Rng.mix(~splitSeed, 2 * c), n) * n + Math.floorMod(Rng.mix(~splitSeed, 2 * c + 1), n);
            if (isHeldOutKey(key) && heldOutSeen.add(key)) heldOut.add(key);
        }
        return heldOut.get((int) i);
    }

    private boolean isHeldOutKey(long key) {
        return (Rng.mix(splitSeed, key) >>> 11) * 0x1.0p-53 < heldOutFraction;
    }

    private int a(long key) {
        return (int) (key / n);
    }

    private int b(long key) {
        return (int) (key % n);
    }

    private void checkOperand(int x) {
        if (x < 0 || x >= n) throw new IllegalArgumentException("operand " + x + " is not a " + digits + "-digit number (0.." + (n - 1) + ")");
    }

    private static long pow10(int d) {
        long p = 1;
        for (int i = 0; i < d; i++) p *= 10;
        return p;
    }
}
