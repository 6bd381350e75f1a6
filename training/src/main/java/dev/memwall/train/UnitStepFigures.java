package dev.memwall.train;

/**
 * What stage 3's unit buffers did in the current step, for tests and {@code comm_hidden_fraction}: bytes of unit
 * buffers alive (gathered parameters, and the gradients written over them while they are reduced; in BF16/FP16 the
 * 16-bit units, their decoded FP32 copies and the separate FP32 gradient buffers), the training
 * thread's time blocked on collectives, and the collectives issued from inside backward.
 */
final class UnitStepFigures {
    private long waitNanos;
    private long liveBytes, peakBytes;
    private int gathersInBackward, reductionsInBackward;

    void allocated(long bytes) {
        liveBytes += bytes;
        peakBytes = Math.max(peakBytes, liveBytes);
    }

    void released(long bytes) {
        liveBytes -= bytes;
    }

    void waited(long nanos) {
        waitNanos += nanos;
    }

    void gatherInBackward() {
        gathersInBackward++;
    }

    void reductionInBackward() {
        reductionsInBackward++;
    }

    /** Starts a step: counts from zero, the peak from what is alive now. */
    void reset() {
        waitNanos = 0;
        gathersInBackward = 0;
        reductionsInBackward = 0;
        peakBytes = liveBytes;
    }

    long waitNanos() {
        return waitNanos;
    }

    long peakBytes() {
        return peakBytes;
    }

    int gathersInBackward() {
        return gathersInBackward;
    }

    int reductionsInBackward() {
        return reductionsInBackward;
    }
}
