package dev.memwall.sharding.mpi;

import dev.memwall.sharding.JoinRefusedException;

import java.util.Map;

/**
 * What Open MPI's launcher ({@code mpirun}, {@code orterun}) tells each process it starts: {@code OMPI_COMM_WORLD_RANK},
 * {@code OMPI_COMM_WORLD_SIZE}, {@code OMPI_COMM_WORLD_LOCAL_RANK} and {@code OMPI_COMM_WORLD_LOCAL_SIZE} (the ranks
 * on this node, which share its cores). Read before MPI is initialised, so a process can tell it runs under
 * {@code mpirun} without loading the binding.
 */
public record MpiEnvironment(int rank, int worldSize, int localRank, int localSize) {

    public MpiEnvironment {
        if (worldSize < 1) throw new JoinRefusedException("OMPI_COMM_WORLD_SIZE=" + worldSize + " must be at least 1");
        if (rank < 0 || rank >= worldSize) {
            throw new JoinRefusedException("OMPI_COMM_WORLD_RANK=" + rank + " is not in [0, " + worldSize + ")");
        }
        if (localSize < 1 || localRank < 0 || localRank >= localSize) {
            throw new JoinRefusedException("OMPI_COMM_WORLD_LOCAL_RANK=" + localRank + " is not in [0, OMPI_COMM_WORLD_LOCAL_SIZE="
                    + localSize + ")");
        }
    }

    /** Whether {@code env} is that of a process started by Open MPI's launcher. */
    public static boolean present(Map<String, String> env) {
        String s = env.get("OMPI_COMM_WORLD_SIZE");
        return s != null && !s.isBlank();
    }

    /**
     * The launcher's variables, or null when OMPI_COMM_WORLD_SIZE is unset (not started by {@code mpirun}).
     *
     * @throws JoinRefusedException naming a variable that is missing or not an integer
     */
    public static MpiEnvironment parse(Map<String, String> env) {
        if (!present(env)) return null;
        int size = integer(env, "OMPI_COMM_WORLD_SIZE", -1);
        int rank = integer(env, "OMPI_COMM_WORLD_RANK", -1);
        int localRank = integer(env, "OMPI_COMM_WORLD_LOCAL_RANK", rank);
        int localSize = integer(env, "OMPI_COMM_WORLD_LOCAL_SIZE", size);
        return new MpiEnvironment(rank, size, localRank, localSize);
    }

    private static int integer(Map<String, String> env, String name, int otherwise) {
        String v = env.get(name);
        if (v == null || v.isBlank()) {
            if (otherwise >= 0) return otherwise;
            throw new JoinRefusedException(name + " is not set, but OMPI_COMM_WORLD_SIZE is: an incomplete Open MPI environment");
        }
        try {
            return Integer.parseInt(v.trim());
        } catch (NumberFormatException e) {
            throw new JoinRefusedException(name + "='" + v + "' is not an integer");
        }
    }
}
