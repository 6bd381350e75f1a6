package dev.memwall.train;

import dev.memwall.memory.Category;

import java.util.Map;

/**
 * What one optimizer step did: its loss (mean over micro-batches), learning rate, gradient norm before clipping,
 * tokens, wall time, and the memory figures of the step (peak within the step and current after it, by category).
 */
public record StepStats(long step, double loss, double lr, double gradNorm, long tokens, double millis,
                        Map<Category, Long> peakBytes, long peakTotalBytes, Map<Category, Long> currentBytes) {
    public double tokensPerSecond() {
        return millis <= 0 ? 0 : tokens / (millis / 1000.0);
    }
}
