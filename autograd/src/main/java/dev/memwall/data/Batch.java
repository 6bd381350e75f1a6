package dev.memwall.data;

import dev.memwall.autograd.Tensor;

import java.util.Arrays;

/**
 * One batch of next-token training data: {@code ids} and {@code targets}, both row-major {@code [batch, context]}.
 * Ids are byte values 0..255; a target is the byte that should follow the id at the same position, or
 * {@link #IGNORE} (-100, the default ignore index of {@code F.crossEntropy}) where the loss should not look.
 * Equality compares the array contents.
 */
public record Batch(int[] ids, int[] targets, int batch, int context) {
    /** Target value that the cross-entropy ignores. */
    public static final int IGNORE = -100;

    public Batch {
        if (batch <= 0 || context <= 0) {
            throw new IllegalArgumentException("batch and context must be positive: batch=" + batch + ", context=" + context);
        }
        long n = (long) batch * context;
        if (ids == null || targets == null || ids.length != n || targets.length != n) {
            throw new IllegalArgumentException("ids and targets must each hold batch*context = " + n + " values, got "
                    + (ids == null ? "null" : ids.length) + " and " + (targets == null ? "null" : targets.length));
        }
    }

    /** A new INT32 tensor [batch, context] of the ids (a temporary: an open Scope releases it). */
    public Tensor idsTensor() {
        return Tensor.ints(ids, batch, context);
    }

    /** A new INT32 tensor [batch, context] of the targets (a temporary: an open Scope releases it). */
    public Tensor targetsTensor() {
        return Tensor.ints(targets, batch, context);
    }

    public int id(int row, int position) {
        return ids[index(row, position)];
    }

    public int target(int row, int position) {
        return targets[index(row, position)];
    }

    /** A copy of the ids of one row. */
    public int[] rowIds(int row) {
        int at = index(row, 0);
        return Arrays.copyOfRange(ids, at, at + context);
    }

    /** A copy of the targets of one row. */
    public int[] rowTargets(int row) {
        int at = index(row, 0);
        return Arrays.copyOfRange(targets, at, at + context);
    }

    /** How many targets are not {@link #IGNORE}: the number of positions the loss averages over. */
    public int countedTargets() {
        int n = 0;
        for (int t : targets) if (t != IGNORE) n++;
        return n;
    }

    private int index(int row, int position) {
        if (row < 0 || row >= batch || position < 0 || position >= context) {
            throw new IndexOutOfBoundsException("(" + row + ", " + position + ") outside batch [" + batch + ", " + context + "]");
        }
        return row * context + position;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Batch b && batch == b.batch && context == b.context
                && Arrays.equals(ids, b.ids) && Arrays.equals(targets, b.targets);
    }

    @Override
    public int hashCode() {
        return 31 * (31 * (31 * batch + context) + Arrays.hashCode(ids)) + Arrays.hashCode(targets);
    }

    @Override
    public String toString() {
        return "Batch[" + batch + " x " + context + ", " + countedTargets() + " counted targets]";
    }
}
