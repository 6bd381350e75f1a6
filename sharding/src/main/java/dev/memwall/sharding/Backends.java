package dev.memwall.sharding;

import dev.memwall.sharding.mpi.MpiEnvironment;
import dev.memwall.sharding.mpi.MpiOptions;
import dev.memwall.sharding.mpi.MpiProcessGroup;
import dev.memwall.sharding.shm.ShmOptions;
import dev.memwall.sharding.shm.ShmProcessGroup;

import java.util.List;
import java.util.Map;

/**
 * Which backend a process joins, from its environment and an optional explicit choice ({@code --backend}):
 * <ul>
 *   <li>started by {@code memwall launch} (MEMWALL_JOB_ID set): shared memory, {@code "shm"} (one process when
 *       WORLD_SIZE is 1);</li>
 *   <li>else started by Open MPI's {@code mpirun} (OMPI_COMM_WORLD_SIZE set) with more than one rank: {@code "mpi"};</li>
 *   <li>else WORLD_SIZE &gt; 1 (an incomplete launch environment, refused by name by the shared-memory backend): shm;</li>
 *   <li>else one process, {@code "none"}.</li>
 * </ul>
 * An explicit {@code "shm"} or {@code "mpi"} is used or refused with what is missing; never silently replaced.
 */
public final class Backends {
    /** The names {@code --backend} accepts. */
    public static final List<String> NAMES = List.of("shm", "mpi");

    private Backends() {
    }

    /** The backend the environment implies ("none", "shm" or "mpi"), or {@code requested} checked against it. */
    public static String choose(Map<String, String> env, String requested) {
        boolean launched = has(env, "MEMWALL_JOB_ID") || has(env, "WORLD_SIZE");
        boolean mpirun = MpiEnvironment.present(env);
        if (requested == null) {
            if (has(env, "MEMWALL_JOB_ID")) return LaunchEnvironment.parse(env) == null ? "none" : "shm";
            if (mpirun) return MpiEnvironment.parse(env).worldSize() > 1 ? "mpi" : "none";
            return LaunchEnvironment.parse(env) == null ? "none" : "shm";
        }
        switch (requested) {
            case "shm" -> {
                if (!launched) {
                    throw new JoinRefusedException("--backend shm: this process was not started by `memwall launch` (no WORLD_SIZE, "
                            + "MEMWALL_JOB_ID, MEMWALL_RUN_DIR)" + (mpirun ? "; under mpirun use --backend mpi, or leave --backend out"
                            : "; start the job with ./memwall launch --nproc N train ..."));
                }
                return "shm";
            }
            case "mpi" -> {
                if (!mpirun) {
                    throw new JoinRefusedException("--backend mpi: this process was not started by mpirun (OMPI_COMM_WORLD_SIZE is "
                            + "unset); start the job with mpirun -np N ./memwall train ...");
                }
                String missing = MpiProcessGroup.unavailable();
                if (missing != null) throw new JoinRefusedException("--backend mpi: " + missing);
                return "mpi";
            }
            default -> throw new JoinRefusedException("--backend " + requested + ": unknown backend; one of " + NAMES);
        }
    }

    /** The world size of the job {@link #choose} picks, without joining (1 for "none"). */
    public static int worldSize(Map<String, String> env, String requested) {
        return switch (choose(env, requested)) {
            case "mpi" -> MpiEnvironment.parse(env).worldSize();
            case "shm" -> LaunchEnvironment.parse(env) == null ? 1 : LaunchEnvironment.parse(env).worldSize();
            default -> 1;
        };
    }

    /** Joins the group {@link #choose} picks. */
    public static ProcessGroup join(Map<String, String> env, String requested) {
        return switch (choose(env, requested)) {
            case "mpi" -> MpiProcessGroup.join(MpiEnvironment.parse(env), MpiOptions.fromEnvironment(env));
            case "shm" -> {
                LaunchEnvironment launch = LaunchEnvironment.parse(env);
                // a launch of one worker (WORLD_SIZE=1) is one process: nothing to share
                yield launch == null ? ProcessGroup.single() : ShmProcessGroup.join(launch, ShmOptions.fromEnvironment(env));
            }
            default -> ProcessGroup.single();
        };
    }

    private static boolean has(Map<String, String> env, String name) {
        String v = env.get(name);
        return v != null && !v.isBlank();
    }
}
