package dev.memwall.optim;

/** Learning rate as a function of the 0-based step about to be taken. */
@FunctionalInterface
public interface LrSchedule {
    double lr(long step);

    static LrSchedule constant(double lr) {
        return step -> lr;
    }

    /**
     * Linear warm-up from lr/warmup to {@code peak} over {@code warmup} steps, then cosine decay to {@code min} at
     * {@code total} steps, constant {@code min} after.
     */
    static LrSchedule warmupCosine(double peak, long warmup, long total, double min) {
        if (warmup < 0 || total <= 0 || warmup > total) throw new IllegalArgumentException("need 0 <= warmup <= total, total > 0");
        return step -> {
            if (step < warmup) return peak * (step + 1) / warmup;
            if (step >= total) return min;
            double progress = (double) (step - warmup) / Math.max(1, total - warmup);
            return min + 0.5 * (peak - min) * (1 + Math.cos(Math.PI * progress));
        };
    }
}
