package dev.memwall.sharding.mpi;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A rank that dies or fails under {@code mpirun} ends the whole job with a non-zero status naming the rank, while the
 * other ranks wait in a collective: no hang. Runs only where the binding is built and mpirun exists.
 */
class MpiFailureTest {

    @BeforeEach
    void requireMpi() {
        MpiRun.assumeAvailable();
    }

    @Test
    void aKilledRankEndsTheJobNamingIt() throws Exception {
        List<String> cmd = new ArrayList<>(List.of(MpiRun.mpirun().toString(), "--oversubscribe", "-np", "2"));
        if ("root".equals(System.getProperty("user.name"))) cmd.add(1, "--allow-run-as-root");
        cmd.addAll(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Xmx256m",
                "-XX:+UseSerialGC", "-cp", System.getProperty("java.class.path"), MpiWorker.class.getName(), "loop"));
        Process mpirun = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        try {
            BufferedReader out = new BufferedReader(new InputStreamReader(mpirun.getInputStream(), StandardCharsets.UTF_8));
            Map<Integer, Long> pids = new HashMap<>();
            StringBuilder seen = new StringBuilder();
            while (pids.size() < 2) {
                String line = out.readLine();
                assertThat(line).as("both ranks report ready; output so far: %s", seen).isNotNull();
                seen.append(line).append('\n');
                if (line.startsWith("ready ")) {
                    String[] f = line.split(" ");
                    pids.put(Integer.parseInt(f[1]), Long.parseLong(f[2]));
                }
            }
            long killed = System.nanoTime();
            ProcessHandle.of(pids.get(1)).orElseThrow().destroyForcibly(); // SIGKILL: no chance to say goodbye
            assertThat(mpirun.waitFor(60, TimeUnit.SECONDS)).as("mpirun ended after rank 1 died").isTrue();
            double seconds = (System.nanoTime() - killed) / 1e9;
            String rest = new String(mpirun.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertThat(mpirun.exitValue()).as(rest).isNotZero();
            assertThat(rest).contains("process rank 1").contains("signal 9");
            assertThat(seconds).as("ended within 30 s: %s", rest).isLessThan(30);
            ProcessHandle rank0 = ProcessHandle.of(pids.get(0)).orElse(null);
            if (rank0 != null) rank0.onExit().get(10, TimeUnit.SECONDS); // rank 0, waiting in an all-reduce, is ended too
        } finally {
            mpirun.destroyForcibly();
        }
    }

    @Test
    void aRankThatFailsEndsTheJobWithItsStatusNamingIt() throws Exception {
        MpiRun.Result r = MpiRun.run(2, List.of(), MpiWorker.class.getName(), List.of("fail", "1"), 90);
        assertThat(r.exit()).as("%s%s", r.stdout(), r.stderr()).isEqualTo(1);
        assertThat(r.stderr()).contains("rank 1 failed on purpose")
                .contains("rank 1 of 2 (mpi): process group closed out of step")
                .containsPattern("Process name: \\[\\[\\d+,1\\],1\\]");
    }
}
