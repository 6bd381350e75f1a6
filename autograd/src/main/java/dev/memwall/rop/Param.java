package dev.memwall.rop;

import dev.memwall.autograd.Tensor;

/**
 * One parameter as the rules see it: its values, its slice of the direction z, its gradient (a view of the flat
 * buffer, added into) and the index under which its share of H·z goes to the {@link Products} sink.
 */
record Param(int index, Tensor value, float[] z, int zOffset, Tensor grad) {
    float[] w() {
        return value.data();
    }

    int wo() {
        return value.offset();
    }

    int numel() {
        return value.numel();
    }
}
