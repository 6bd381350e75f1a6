package dev.memwall.sharding;

/** Another rank died, stopped responding or left the group while this rank waited for it in a collective. */
public class PeerFailedException extends CommException {
    private final int peer;

    public PeerFailedException(int peer, String message) {
        super(message);
        this.peer = peer;
    }

    /** The rank that failed. */
    public int peer() {
        return peer;
    }
}
