/**
 * The shared-memory backend of {@link dev.memwall.sharding.ProcessGroup} for the worker processes of one machine:
 * one memory-mapped segment file per rank (0600, in the job's owner-only run directory, the job token in its name
 * and header), collectives in rounds of "write own segment, barrier, read peers' segments, barrier", reductions summed
 * in rank order, and a barrier whose waits are all bounded: heartbeats, process liveness and timeouts turn a dead or
 * frozen peer into an exception naming it. The data flow is drawn in {@code docs/architecture.md}.
 */
package dev.memwall.sharding.shm;
