package dev.memwall.train;

/**
 * What stage 3's unit buffers did in the current step, for tests and {@code comm_hidden_fraction}: elements of unit
 * buffers alive (gathered parameters, and the gradients written over them while they are reduced), the training
 * thread's time blocked on collectives, and the collectives issued from inside backward.
 */
final class UnitStepFigures {
    private long waitNanos;
    private long liveElements, peakElements;
    private int gathersInBackward, reductionsInBackward;

    void allocated(long elements) {
        liveElements += elements;
        peakElements = Math.max(peakElements, liveElements);
    }

    void released(long elements) {
        liveElements -= elements;
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
        peakElements = liveElements;
    }

    long waitNanos() {
        return waitNanos;
    }

    long peakElements() {
        return peakElements;
    }

    int gathersInBackward() {
        return gathersInBackward;
    }

    int reductionsInBackward() {
        return reductionsInBackward;
    }
}
