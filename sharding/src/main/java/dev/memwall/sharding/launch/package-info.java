/**
 * The torchrun-like launcher behind {@code memwall launch}: {@link dev.memwall.sharding.launch.Launcher} starts N
 * worker JVMs with the environment contract (RANK, LOCAL_RANK, WORLD_SIZE, MEMWALL_JOB_ID, MEMWALL_RUN_DIR and
 * {@code -Dmemwall.threads}), prefixes their output with their rank, stops them all on the first failure and leaves no
 * process and no run directory ({@link dev.memwall.sharding.launch.RunDirectory}) behind.
 */
package dev.memwall.sharding.launch;
