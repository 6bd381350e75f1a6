package dev.memwall.ops;

import dev.memwall.autograd.Tensor;

/** Releases intermediate handles inside ops and backward rules, skipping nulls. */
final class Rel {
    private Rel() {
    }

    static void all(Tensor... ts) {
        for (Tensor t : ts) if (t != null) t.releaseIfAlive();
    }

    static void requireFp32(String op, Tensor... ts) {
        for (Tensor t : ts) {
            t.checkAlive(op);
            if (t.dtype() != dev.memwall.autograd.DType.FP32) {
                throw new IllegalArgumentException(op + ": expected FP32 input, got " + t.dtype() + " " + java.util.Arrays.toString(t.shape())
                        + " (convert with to(DType.FP32))");
            }
        }
    }
}
