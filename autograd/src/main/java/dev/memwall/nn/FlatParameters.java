package dev.memwall.nn;

import dev.memwall.autograd.FlatBuffer;

import java.util.List;

/**
 * A model's parameters and gradients as two flat buffers, with where each named parameter lives. Optimizers and
 * collectives work on element ranges of these buffers.
 */
public record FlatParameters(FlatBuffer values, FlatBuffer grads, List<Entry> entries) {
    /** Parameter {@code name} occupies [offset, offset + numel(shape)) of both buffers. */
    public record Entry(String name, int offset, int[] shape) {
        public int numel() {
            int n = 1;
            for (int d : shape) n *= d;
            return n;
        }
    }

    /** Elements of each buffer, padding included (see {@code Module.flatten(int)}). */
    public int length() {
        return values.length();
    }

    /** Elements that belong to a parameter (Ψ): {@link #length()} less the padding at the end. */
    public int count() {
        return values.used();
    }
}
