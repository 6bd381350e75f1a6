/**
 * Memory accounting: every buffer the framework allocates is counted from allocation to release under a
 * {@link dev.memwall.memory.Category}; the {@link dev.memwall.memory.MemoryTracker} keeps current and peak bytes per
 * category, allocation counts and an optional timeline of {@link dev.memwall.memory.MemoryEvent}s for reports.
 * The lifetime rules that make these figures deterministic are described in {@code docs/architecture.md}.
 *
 * <p>The tracker is per process, not per thread: allocations on kernel worker threads count toward the step that
 * started them, and a sharded run has one process (so one tracker) per rank. Installs
 * ({@link dev.memwall.memory.MemoryTracker#install}) nest on one thread at a time. Scopes, grad mode and saved-tensor
 * hooks, which describe the graph a thread is building, are per thread. {@link dev.memwall.memory.ArrayCache}, the
 * reuse pool behind every storage array, is per process too.
 */
package dev.memwall.memory;
