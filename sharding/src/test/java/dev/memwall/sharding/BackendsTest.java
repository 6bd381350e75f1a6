package dev.memwall.sharding;

import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Which backend an environment implies, and an explicit choice refused with what is missing. */
class BackendsTest {
    private static final Map<String, String> MPIRUN = Map.of("OMPI_COMM_WORLD_SIZE", "4", "OMPI_COMM_WORLD_RANK", "2",
            "OMPI_COMM_WORLD_LOCAL_RANK", "0", "OMPI_COMM_WORLD_LOCAL_SIZE", "2");
    private static final Map<String, String> LAUNCH = Map.of("WORLD_SIZE", "2", "RANK", "1",
            "MEMWALL_JOB_ID", "0123456789abcdef0123456789abcdef", "MEMWALL_RUN_DIR", "/tmp/x");

    @Test
    void theEnvironmentPicksTheBackend() {
        assertThat(Backends.choose(Map.of(), null)).isEqualTo("none");
        assertThat(Backends.choose(MPIRUN, null)).isEqualTo("mpi");
        assertThat(Backends.worldSize(MPIRUN, null)).isEqualTo(4);
        assertThat(Backends.choose(Map.of("OMPI_COMM_WORLD_SIZE", "1", "OMPI_COMM_WORLD_RANK", "0"), null))
                .as("mpirun -np 1 is one process").isEqualTo("none");
        assertThat(Backends.choose(LAUNCH, null)).isEqualTo("shm");
        Map<String, String> one = new java.util.HashMap<>(LAUNCH);
        one.put("WORLD_SIZE", "1");
        one.put("RANK", "0");
        assertThat(Backends.choose(one, null)).as("a launch of one worker is one process").isEqualTo("none");
        try (ProcessGroup g = ProcessGroup.fromEnvironment(one, "shm")) {
            assertThat(g.worldSize()).as("shm asked for by a launch of one: nothing to share").isEqualTo(1);
        }
        assertThat(Backends.worldSize(LAUNCH, null)).isEqualTo(2);
        Map<String, String> both = new java.util.HashMap<>(MPIRUN);
        both.putAll(LAUNCH);
        assertThat(Backends.choose(both, null)).as("memwall launch's workers inherit mpirun's variables").isEqualTo("shm");
    }

    @Test
    void anExplicitBackendIsRefusedWhereItCannotRun() {
        assertThatThrownBy(() -> Backends.choose(Map.of(), "mpi")).isInstanceOf(JoinRefusedException.class)
                .hasMessageContaining("not started by mpirun").hasMessageContaining("mpirun -np N ./memwall train");
        assertThatThrownBy(() -> Backends.choose(MPIRUN, "shm")).isInstanceOf(JoinRefusedException.class)
                .hasMessageContaining("not started by `memwall launch`").hasMessageContaining("use --backend mpi");
        assertThatThrownBy(() -> Backends.choose(Map.of(), "tcp")).isInstanceOf(JoinRefusedException.class)
                .hasMessageContaining("--backend tcp: unknown backend; one of [shm, mpi]");
        assertThat(Backends.choose(LAUNCH, "shm")).isEqualTo("shm");
    }

    @Test
    void anIncompleteOpenMpiEnvironmentIsNamed() {
        assertThatThrownBy(() -> Backends.choose(Map.of("OMPI_COMM_WORLD_SIZE", "2"), null))
                .isInstanceOf(JoinRefusedException.class).hasMessageContaining("OMPI_COMM_WORLD_RANK is not set");
        assertThatThrownBy(() -> Backends.choose(Map.of("OMPI_COMM_WORLD_SIZE", "2", "OMPI_COMM_WORLD_RANK", "x"), null))
                .isInstanceOf(JoinRefusedException.class).hasMessageContaining("OMPI_COMM_WORLD_RANK='x' is not an integer");
    }
}
