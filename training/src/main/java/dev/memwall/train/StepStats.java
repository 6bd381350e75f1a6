package dev.memwall.train;

import dev.memwall.memory.Category;

import java.util.Map;

/**
 * What one optimizer step did: its loss (mean over micro-batches; under data parallelism the global batch's, the
 * same on every rank), learning rate, gradient norm before clipping, tokens of the global batch, wall time, the
 * memory figures of the step (peak within the step and current after it, by category), and the ring-equivalent
 * bytes this rank's collectives sent and received during the step (0 in a single process), the part of those sent
 * by collectives issued while the tracker's phase was BACKWARD (stage 2's bucket reductions), and at ZeRO stage 2 the
 * share of the gradient reductions' communication time hidden behind backward (NaN otherwise; see
 * {@code Trainer.hiddenFraction}).
 */
public record StepStats(long step, double loss, double lr, double gradNorm, long tokens, double millis,
                        Map<Category, Long> peakBytes, long peakTotalBytes, Map<Category, Long> currentBytes,
                        long commBytesSent, long commBytesReceived, long commBytesSentInBackward, double commHiddenFraction) {
    public double tokensPerSecond() {
        return millis <= 0 ? 0 : tokens / (millis / 1000.0);
    }

    /**
     * Bytes of parameters, gradients and optimizer state held after the step (measured by the tracker, padding
     * included): what ZeRO's formulas predict ({@link ZeroStage#modelStateBytes}).
     */
    public long modelStateBytes() {
        return currentBytes.getOrDefault(Category.PARAMETER, 0L) + currentBytes.getOrDefault(Category.GRADIENT, 0L)
                + currentBytes.getOrDefault(Category.OPTIMIZER_STATE, 0L);
    }
}
