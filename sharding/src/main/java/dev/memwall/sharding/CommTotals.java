package dev.memwall.sharding;

/**
 * What a rank's collectives moved, summed over some calls.
 *
 * <p>{@code bytesSent} and {@code bytesReceived} are <em>ring-equivalent</em> volumes, the convention of NCCL's and
 * MPI's bus bandwidth: what this rank would send and receive if the collective ran as a ring over N ranks, for a
 * buffer of B bytes (B = the whole buffer: all-reduce's, reduce-scatter's input, all-gather's output, broadcast's):
 * all-reduce 2·(N−1)/N·B each way, reduce-scatter and all-gather (N−1)/N·B, broadcast B received by every rank but
 * the root and B sent by every rank but the last in ring order (root−1 mod N), barrier 0. Fractions are rounded
 * down. These are the figures ZeRO's formulas predict, whatever the transport really does.
 *
 * <p>{@code rawBytesWritten} and {@code rawBytesRead} are what the shared-memory transport really copied into and
 * out of the mapped segments on this rank (its own segment included); {@code nanos} is the wall time the
 * communication thread spent in the calls.
 */
public record CommTotals(long calls, long bytesSent, long bytesReceived, long rawBytesWritten, long rawBytesRead,
                         long nanos) {
    public static final CommTotals ZERO = new CommTotals(0, 0, 0, 0, 0, 0);

    public CommTotals plus(CommTotals o) {
        return new CommTotals(calls + o.calls, bytesSent + o.bytesSent, bytesReceived + o.bytesReceived,
                rawBytesWritten + o.rawBytesWritten, rawBytesRead + o.rawBytesRead, nanos + o.nanos);
    }
}
