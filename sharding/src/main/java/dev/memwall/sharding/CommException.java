package dev.memwall.sharding;

/**
 * A collective could not complete: a peer failed or timed out, the ranks called different collectives, or the group
 * was already broken by an earlier failure. After one, the process group is unusable; a worker should exit (the
 * launcher then stops the others).
 */
public class CommException extends RuntimeException {
    public CommException(String message) {
        super(message);
    }

    public CommException(String message, Throwable cause) {
        super(message, cause);
    }
}
