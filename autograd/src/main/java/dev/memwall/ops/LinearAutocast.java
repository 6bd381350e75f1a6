package dev.memwall.ops;

import dev.memwall.autograd.Guard;
import dev.memwall.autograd.Tensor;

import java.util.Objects;

/**
 * A per-thread replacement for {@link F#linear}: how a precision policy (FP8 autocast, in the {@code precision}
 * module) takes over the GEMMs of every {@code Linear} layer without the layers knowing. While a policy is pushed,
 * {@code F.linear} calls it instead of the FP32 op; inside the call the policy is popped, so a policy may fall back
 * to {@code F.linear} for FP32 without recursing.
 */
public final class LinearAutocast {
    /** What {@code F.linear(x, w, b)} does while pushed. */
    @FunctionalInterface
    public interface Policy {
        Tensor linear(Tensor x, Tensor w, Tensor b);
    }

    private static final ThreadLocal<Policy> CURRENT = new ThreadLocal<>();

    private LinearAutocast() {
    }

    /** Makes {@code policy} this thread's linear op until the returned guard closes (which restores the previous one). */
    public static Guard push(Policy policy) {
        Objects.requireNonNull(policy, "policy");
        Policy before = CURRENT.get();
        CURRENT.set(policy);
        return () -> CURRENT.set(before);
    }

    /** This thread's policy, or null. */
    public static Policy current() {
        return CURRENT.get();
    }

    static Tensor apply(Policy p, Tensor x, Tensor w, Tensor b) {
        CURRENT.set(null);
        try {
            return p.linear(x, w, b);
        } finally {
            CURRENT.set(p);
        }
    }
}
