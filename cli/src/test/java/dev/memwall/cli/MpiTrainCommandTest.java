package dev.memwall.cli;

import com.fasterxml.jackson.databind.JsonNode;
import dev.memwall.sharding.mpi.MpiProcessGroup;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * {@code train --zero} (every stage, 0–3) started by {@code mpirun}: each rank joins the Open MPI backend by itself, prints its own
 * summary with {@code "backend": "mpi"}, and trains as the shared-memory backend does (the same losses step by step
 * within 1e-6 relative, the same model-state and communication bytes). The mpirun half runs only where the binding
 * is built and mpirun exists; the refusals run everywhere.
 */
@Timeout(600)
class MpiTrainCommandTest {

    @Test
    void underMpirunEveryStageTrainsAsTheSharedMemoryBackendDoes(@TempDir Path dir) throws Exception {
        assumeTrue(mpirun() != null, "mpirun is not installed");
        assumeTrue(MpiProcessGroup.unavailable() == null, MpiProcessGroup.unavailable());
        for (int stage : new int[] {0, 1, 2, 3}) {
            Path mpiReport = dir.resolve("mpi" + stage + "-rank{rank}.json"), shmReport = dir.resolve("shm" + stage + ".json");
            String[] args = CliRunner.args(ShardedTrainCommandTest.RUN, "--zero", Integer.toString(stage));
            List<JsonNode> mpi = mpirun(2, dir.resolve("out" + stage), CliRunner.args(args, "--memory-report", mpiReport.toString()));
            List<JsonNode> shm = ShardedTrainCommandTest.workers(2, CliRunner.args(args, "--memory-report", shmReport.toString()));
            for (int r = 0; r < 2; r++) {
                JsonNode m = mpi.get(r), s = shm.get(r);
                String what = "stage " + stage + " rank " + r + ": " + m;
                assertThat(m.get("backend").asText()).as(what).isEqualTo("mpi");
                assertThat(m.get("rank").asInt()).as(what).isEqualTo(r);
                assertThat(m.get("world_size").asInt()).as(what).isEqualTo(2);
                for (String same : new String[] {"zero_stage", "params", "model_state_bytes", "comm_bytes_sent_per_step",
                        "comm_bytes_received_per_step", "comm_bytes_sent_in_backward_per_step"}) {
                    assertThat(m.get(same)).as("%s: %s as shm's", what, same).isEqualTo(s.get(same));
                }
            }
            assertThat(dir.resolve("mpi" + stage + "-rank1.json")).as("each rank wrote its own report").isRegularFile();
            JsonNode mpiSteps = CliRunner.MAPPER.readTree(dir.resolve("mpi" + stage + "-rank0.json").toFile()).get("steps");
            JsonNode shmSteps = CliRunner.MAPPER.readTree(shmReport.toFile()).get("steps");
            assertThat(mpiSteps.size()).isEqualTo(shmSteps.size()).isPositive();
            for (int i = 0; i < mpiSteps.size(); i++) {
                double a = mpiSteps.get(i).get("loss").asDouble(), b = shmSteps.get(i).get("loss").asDouble();
                assertThat(Math.abs(a - b)).as("stage %d step %d loss: mpi %s, shm %s", stage, i + 1, a, b)
                        .isLessThanOrEqualTo(1e-6 * Math.abs(b));
            }
        }
    }

    @Test
    void compareShardingRowsOnMpiCarryTheSharedMemoryRowsFigures() {
        assumeTrue(MpirunJob.unavailable() == null, MpirunJob.unavailable());
        String[] shape = {"compare-sharding", "--layers", "1", "--dim", "32", "--heads", "2", "--ctx", "16", "--batch", "4",
                "--nproc", "2", "--stages", "1", "--steps", "2", "--json"};
        CliRunner.Result mpi = CliRunner.run(CliRunner.args(shape, "--backend", "mpi"));
        CliRunner.Result shm = CliRunner.run(shape);
        assertThat(mpi.exit()).as("%s", mpi).isZero();
        assertThat(shm.exit()).as("%s", shm).isZero();
        assertThat(mpi.lastJson().get("backend").asText()).isEqualTo("mpi");
        assertThat(shm.lastJson().get("backend").asText()).isEqualTo("shm");
        JsonNode m = mpi.lastJson().get("rows").get(0), s = shm.lastJson().get("rows").get(0);
        for (String same : new String[] {"zero_stage", "world_size", "params", "model_state_bytes", "comm_bytes_sent_per_step",
                "comm_bytes_received_per_step"}) {
            assertThat(m.get(same)).as("%s: %s", same, m).isEqualTo(s.get(same));
        }
        assertThat(m.get("step_ms").asDouble()).isPositive();
    }

    @Test
    void compareShardingRefusesAnUnknownBackend() {
        CliRunner.Result r = CliRunner.run("compare-sharding", "--backend", "tcp");
        assertThat(r.exit()).isEqualTo(2);
        assertThat(r.err()).contains("--backend tcp: unknown backend; one of [shm, mpi]");
    }

    @Test
    void backendMpiOutsideMpirunIsRefusedSayingHowToStart() {
        assumeTrue(System.getenv("OMPI_COMM_WORLD_SIZE") == null, "this test JVM itself runs under mpirun");
        CliRunner.Result r = CliRunner.run(CliRunner.args(ShardedTrainCommandTest.RUN, "--backend", "mpi"));
        assertThat(r.exit()).as("%s", r).isEqualTo(2);
        assertThat(r.err()).contains("--backend mpi: this process was not started by mpirun")
                .contains("mpirun -np N ./memwall train");
    }

    @Test
    void backendShmOutsideALaunchIsRefusedSayingHowToStart() {
        assumeTrue(System.getenv("WORLD_SIZE") == null, "this test JVM itself runs as a launched worker");
        CliRunner.Result r = CliRunner.run(CliRunner.args(ShardedTrainCommandTest.RUN, "--backend", "shm"));
        assertThat(r.exit()).as("%s", r).isEqualTo(2);
        assertThat(r.err()).contains("--backend shm: this process was not started by `memwall launch`")
                .contains("./memwall launch --nproc N train");
    }

    @Test
    void aReportPathNamesTheRank() {
        assertThat(TrainCommand.perRank(Path.of("/tmp/r{rank}/memory-{rank}.json"), dev.memwall.sharding.ProcessGroup.single()))
                .isEqualTo(Path.of("/tmp/r0/memory-0.json"));
        assertThat(TrainCommand.perRank(Path.of("memory.json"), dev.memwall.sharding.ProcessGroup.single())).isEqualTo(Path.of("memory.json"));
    }

    @Test
    void mpirunRanksDivideTheirNodesCores() {
        assertThat(WorkerThreads.threadsFor(java.util.Map.of("OMPI_COMM_WORLD_SIZE", "8", "OMPI_COMM_WORLD_LOCAL_SIZE", "2"), 8, null))
                .as("two ranks on this node of eight in the job").isEqualTo("4");
        assertThat(WorkerThreads.threadsFor(java.util.Map.of("OMPI_COMM_WORLD_LOCAL_SIZE", "2"), 8, "3")).isNull();
    }

    /** mpirun -np n java ... Main args, each rank's output in its own file; each rank's last stdout line as JSON. */
    static List<JsonNode> mpirun(int n, Path outDir, String[] args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(mpirun().toString(), "--oversubscribe", "-np", Integer.toString(n),
                "--output-filename", outDir.toString()));
        if ("root".equals(System.getProperty("user.name"))) cmd.add(1, "--allow-run-as-root");
        cmd.addAll(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Xmx256m",
                "-XX:+UseSerialGC", "-cp", System.getProperty("java.class.path"), Main.class.getName()));
        cmd.addAll(List.of(args));
        Path log = Files.createTempFile("mpirun", ".log");
        try {
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
            assertThat(p.waitFor(300, TimeUnit.SECONDS)).as("mpirun finished").isTrue();
            assertThat(p.exitValue()).as("mpirun: %s", Files.readString(log)).isZero();
        } finally {
            Files.deleteIfExists(log);
        }
        List<JsonNode> out = new ArrayList<>();
        for (int r = 0; r < n; r++) {
            // Open MPI 4.1 writes DIR/1/rank.R/stdout
            List<String> lines = Files.readAllLines(outDir.resolve("1").resolve("rank." + r).resolve("stdout"))
                    .stream().filter(l -> !l.isBlank()).toList();
            out.add(CliRunner.MAPPER.readTree(lines.get(lines.size() - 1)));
        }
        return out;
    }

    static Path mpirun() {
        for (String d : System.getenv().getOrDefault("PATH", "").split(":")) {
            Path p = Path.of(d, "mpirun");
            if (Files.isExecutable(p)) return p;
        }
        return null;
    }
}
