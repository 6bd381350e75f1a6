package dev.memwall.sharding.shm;

import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/** Ranks in separate JVMs, as the launcher starts them: same results as the reference, and a killed rank named. */
class ShmProcessesTest {
    private static final long SEED = 20261129;

    @Test
    void collectivesInSeparateProcessesMatchTheSequentialReferenceBitForBit() throws Exception {
        for (int n : new int[] {2, 4}) {
            try (TestJob job = new TestJob()) {
                Path out = Files.createDirectories(job.runDir.resolve("results"));
                // A slot of 16384 floats: the 70001-float all-reduce and the 20003-float shards take several rounds.
                List<Process> workers = start(job, n, Map.of("MEMWALL_SHM_SLOT_MB", "0.0625"),
                        "script", out.toString(), Long.toString(SEED));
                for (int r = 0; r < n; r++) {
                    Process p = workers.get(r);
                    assertThat(p.waitFor(120, TimeUnit.SECONDS)).as("rank %d of %d finished", r, n).isTrue();
                    assertThat(p.exitValue()).as("rank %d of %d: %s", r, n, output(p)).isZero();
                }
                for (int r = 0; r < n; r++) {
                    List<float[]> expected = ShmWorker.script(r, n, SEED, null);
                    try (DataInputStream in = new DataInputStream(Files.newInputStream(out.resolve("rank" + r + ".bin")))) {
                        for (float[] e : expected) {
                            float[] got = new float[e.length];
                            for (int i = 0; i < got.length; i++) got[i] = Float.intBitsToFloat(in.readInt());
                            assertThat(got).as("rank %d of %d, %d floats", r, n, e.length).isEqualTo(e);
                        }
                        assertThat(in.read()).as("nothing more").isEqualTo(-1);
                    }
                }
                assertThat(job.files()).as("only results left in the run directory").containsExactly(out);
            }
        }
    }

    @Test
    void aKilledRankEndsEveryOtherRankWithinSecondsNamingIt() throws Exception {
        int n = 3, victim = 1;
        try (TestJob job = new TestJob()) {
            List<Process> workers = start(job, n, Map.of(), "loop");
            try {
                List<BufferedReader> stdout = new ArrayList<>();
                for (Process p : workers) {
                    BufferedReader reader = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
                    assertThat(reader.readLine()).as("rank joined and all-reduces").isEqualTo("ready");
                    stdout.add(reader);
                }
                long killed = System.nanoTime();
                workers.get(victim).destroyForcibly();
                for (int r = 0; r < n; r++) {
                    if (r == victim) continue;
                    Process p = workers.get(r);
                    assertThat(p.waitFor(60, TimeUnit.SECONDS)).as("rank %d ended", r).isTrue();
                    double seconds = (System.nanoTime() - killed) / 1e9;
                    String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
                    assertThat(p.exitValue()).as("rank %d: %s", r, err).isEqualTo(ShmWorker.FAILED);
                    assertThat(err).contains("rank " + victim).contains("during allReduce");
                    assertThat(seconds).as("rank %d noticed within 10 s: %s", r, err).isLessThan(10);
                }
                // The survivors removed their segments; the killed rank's is the launcher's to remove.
                assertThat(job.files()).extracting(f -> f.getFileName().toString())
                        .containsExactly("memwall-" + job.jobId + "-rank" + victim + ".shm");
            } finally {
                workers.forEach(Process::destroyForcibly);
            }
        }
    }

    @Test
    void aRankStoppedWithSigtermRemovesItsSegmentAndTheOtherRankNamesIt() throws Exception {
        try (TestJob job = new TestJob()) {
            List<Process> workers = start(job, 2, Map.of(), "loop");
            try {
                for (Process p : workers) {
                    BufferedReader reader = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
                    assertThat(reader.readLine()).as("rank joined and all-reduces").isEqualTo("ready");
                }
                workers.get(1).destroy(); // SIGTERM, as the launcher sends first: shutdown hooks run
                assertThat(workers.get(1).waitFor(60, TimeUnit.SECONDS)).isTrue();
                Process survivor = workers.get(0);
                assertThat(survivor.waitFor(60, TimeUnit.SECONDS)).as("rank 0 ended").isTrue();
                String err = new String(survivor.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
                assertThat(survivor.exitValue()).as(err).isEqualTo(ShmWorker.FAILED);
                assertThat(err).contains("rank 1").contains("during allReduce");
                assertThat(job.files()).as("the shutdown hook removed rank 1's segment, close rank 0's").isEmpty();
            } finally {
                workers.forEach(Process::destroyForcibly);
            }
        }
    }

    /** Starts ranks 0…n−1 of {@link ShmWorker} with the launcher's environment, each in its own JVM. */
    static List<Process> start(TestJob job, int n, Map<String, String> extraEnv, String... args) throws IOException {
        List<Process> ps = new ArrayList<>();
        for (int r = 0; r < n; r++) {
            List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                    "-Xmx256m", "-XX:+UseSerialGC", "-cp", System.getProperty("java.class.path"),
                    ShmWorker.class.getName()));
            cmd.addAll(List.of(args));
            ProcessBuilder pb = new ProcessBuilder(cmd);
            pb.environment().putAll(job.variables(r, n));
            pb.environment().putAll(extraEnv);
            ps.add(pb.start());
        }
        return ps;
    }

    private static String output(Process p) throws IOException {
        return new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8)
                + new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
    }
}
