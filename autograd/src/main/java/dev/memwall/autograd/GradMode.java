package dev.memwall.autograd;

/**
 * Whether ops record autograd nodes on this thread. {@code try (var g = GradMode.noGrad()) { ... }} is PyTorch's
 * {@code torch.no_grad()}: nothing is recorded, nothing is saved for backward. Per thread, like {@link Scope} and
 * {@link SavedTensorHooks} (the graph belongs to the thread that builds it); memory accounting is per process.
 */
public final class GradMode {
    private static final ThreadLocal<boolean[]> ENABLED = ThreadLocal.withInitial(() -> new boolean[]{true});

    private GradMode() {
    }

    public static boolean isEnabled() {
        return ENABLED.get()[0];
    }

    public static Guard noGrad() {
        return set(false);
    }

    public static Guard enableGrad() {
        return set(true);
    }

    public static Guard set(boolean on) {
        boolean[] cell = ENABLED.get();
        boolean previous = cell[0];
        cell[0] = on;
        return () -> cell[0] = previous;
    }
}
