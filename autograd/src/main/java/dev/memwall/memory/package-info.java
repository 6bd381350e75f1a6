/**
 * Memory accounting: every buffer the framework allocates is counted from allocation to release under a
 * {@link dev.memwall.memory.Category}; the {@link dev.memwall.memory.MemoryTracker} keeps current and peak bytes per
 * category, allocation counts and an optional timeline of {@link dev.memwall.memory.MemoryEvent}s for reports.
 * The lifetime rules that make these figures deterministic are described in {@code docs/architecture.md}.
 */
package dev.memwall.memory;
