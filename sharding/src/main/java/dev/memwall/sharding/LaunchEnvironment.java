package dev.memwall.sharding;

import java.nio.file.Path;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * The environment contract between {@code memwall launch} and its workers:
 * <ul>
 *   <li>{@code RANK}, {@code WORLD_SIZE}, {@code LOCAL_RANK}: this worker's rank, the number of workers, its rank on
 *       this machine (the same as RANK for the shared-memory backend, which is one machine);</li>
 *   <li>{@code MEMWALL_JOB_ID}: the job's random token, 32 hex digits; it is in every segment's name and header, and
 *       a process with another token cannot join;</li>
 *   <li>{@code MEMWALL_RUN_DIR}: an owner-only (0700) directory the launcher created for the job and removes at exit,
 *       where the workers create their segments.</li>
 * </ul>
 */
public record LaunchEnvironment(int rank, int worldSize, int localRank, String jobId, Path runDir) {
    private static final Pattern TOKEN = Pattern.compile("[0-9a-f]{32}");

    public LaunchEnvironment {
        if (worldSize < 1) throw new JoinRefusedException("WORLD_SIZE=" + worldSize + " must be at least 1");
        if (rank < 0 || rank >= worldSize) {
            throw new JoinRefusedException("RANK=" + rank + " is not in [0, WORLD_SIZE=" + worldSize + ")");
        }
        if (localRank < 0 || localRank >= worldSize) {
            throw new JoinRefusedException("LOCAL_RANK=" + localRank + " is not in [0, WORLD_SIZE=" + worldSize + ")");
        }
        if (jobId == null || !TOKEN.matcher(jobId).matches()) {
            throw new JoinRefusedException("MEMWALL_JOB_ID must be the job's token of 32 lower-case hex digits, got "
                    + (jobId == null ? "nothing" : "'" + jobId + "'") + "; start workers with ./memwall launch");
        }
        if (runDir == null) throw new JoinRefusedException("MEMWALL_RUN_DIR is not set; start workers with ./memwall launch");
    }

    /**
     * Reads the contract from {@code env}; null when WORLD_SIZE is unset or 1 (a single process needs nothing else).
     *
     * @throws JoinRefusedException naming the variable that is missing or malformed
     */
    public static LaunchEnvironment parse(Map<String, String> env) {
        String world = env.get("WORLD_SIZE");
        if (world == null || world.isBlank()) return null;
        int worldSize = integer(env, "WORLD_SIZE");
        if (worldSize == 1) return null;
        int rank = integer(env, "RANK");
        String local = env.get("LOCAL_RANK");
        int localRank = local == null || local.isBlank() ? rank : integer(env, "LOCAL_RANK");
        String jobId = env.get("MEMWALL_JOB_ID");
        if (jobId == null || jobId.isBlank()) {
            throw new JoinRefusedException("MEMWALL_JOB_ID is not set but WORLD_SIZE=" + worldSize
                    + ": a worker without the job's token cannot join; start workers with ./memwall launch");
        }
        String dir = env.get("MEMWALL_RUN_DIR");
        if (dir == null || dir.isBlank()) {
            throw new JoinRefusedException("MEMWALL_RUN_DIR is not set but WORLD_SIZE=" + worldSize
                    + "; start workers with ./memwall launch");
        }
        return new LaunchEnvironment(rank, worldSize, localRank, jobId, Path.of(dir));
    }

    private static int integer(Map<String, String> env, String name) {
        String v = env.get(name);
        if (v == null || v.isBlank()) throw new JoinRefusedException(name + " is not set");
        try {
            return Integer.parseInt(v.trim());
        } catch (NumberFormatException e) {
            throw new JoinRefusedException(name + "='" + v + "' is not an integer");
        }
    }
}
