/**
 * Sharded training across JVM worker processes: a {@code ProcessGroup} of ranks with collectives (all-reduce,
 * reduce-scatter, all-gather, broadcast, barrier) that count the bytes they move, its backends, and the launcher that
 * starts and supervises the workers.
 */
package dev.memwall.sharding;
