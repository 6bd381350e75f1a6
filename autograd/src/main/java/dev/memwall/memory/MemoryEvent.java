package dev.memwall.memory;

/**
 * One change of the accounted footprint: which op, in which phase, how many bytes moved into or out of which
 * category, and the per-category totals right after it (so a report can stack them without replaying).
 *
 * @param seq       position in the timeline, from 0
 * @param op        the op or component that caused it ("matmul", "layer_norm.backward", "adamw", ...)
 * @param phase     phase at the time
 * @param category  category whose bytes changed
 * @param deltaBytes positive for an allocation or a move in, negative for a release or a move out
 * @param current   bytes per category after the event, indexed by {@link Category#ordinal()}
 */
public record MemoryEvent(long seq, String op, Phase phase, Category category, long deltaBytes, long[] current) {
    public long total() {
        long t = 0;
        for (long c : current) t += c;
        return t;
    }
}
