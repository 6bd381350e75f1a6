/**
 * Sharded training across JVM worker processes: a {@code ProcessGroup} of ranks with collectives (all-reduce,
 * reduce-scatter, all-gather, broadcast, barrier) that count the bytes they move, its backends, and the launcher that
 * starts and supervises the workers.
 *
 * <p>This package holds what every backend shares: the {@link dev.memwall.sharding.ProcessGroup} interface (blocking
 * and async calls, rank-order sums, padding rules), {@link dev.memwall.sharding.Work} handles,
 * {@link dev.memwall.sharding.CommCounters} (ring-equivalent bytes per phase, see
 * {@link dev.memwall.sharding.CommTotals}), the launcher's environment contract
 * ({@link dev.memwall.sharding.LaunchEnvironment}) and the failures a collective or a join ends with. A multi-rank
 * group runs its collectives on one communication thread ({@link dev.memwall.sharding.AsyncProcessGroup}).
 */
package dev.memwall.sharding;
