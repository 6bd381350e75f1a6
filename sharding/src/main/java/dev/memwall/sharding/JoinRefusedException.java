package dev.memwall.sharding;

/**
 * A process could not join a process group: its environment is incomplete or malformed, its job token does not match
 * the job that owns the run directory, the directory is not owner-only, or a peer did not join in time.
 */
public class JoinRefusedException extends CommException {
    public JoinRefusedException(String message) {
        super(message);
    }

    public JoinRefusedException(String message, Throwable cause) {
        super(message, cause);
    }
}
