package dev.memwall.autograd;

/**
 * Undoes a per-thread setting when closed: grad mode ({@link GradMode#noGrad()}), pushed saved-tensor hooks
 * ({@link SavedTensorHooks#push}). Meant for try-with-resources, so the setting is restored on every exit path; its
 * {@code close} throws no checked exception.
 */
@FunctionalInterface
public interface Guard extends AutoCloseable {
    @Override
    void close();
}
