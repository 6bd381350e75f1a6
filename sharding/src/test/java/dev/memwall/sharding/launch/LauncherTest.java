package dev.memwall.sharding.launch;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The launcher against {@link ScriptedWorker}s in real child JVMs: prefixed output, the environment contract, the
 * first failure stopping the rest, nothing left running or on disk. Every test is bounded by a timeout.
 */
@Timeout(120)
class LauncherTest {
    @TempDir
    Path root;

    private final ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();

    private Launcher.Builder launcher(int nproc, String... args) {
        // Workers get a small heap: the tests start several JVMs at once on a shared machine.
        List<String> options = new ArrayList<>(Launcher.inheritedJavaOptions());
        options.add("-Xmx64m");
        return Launcher.builder(ScriptedWorker.class.getName(), args).nproc(nproc).runRoot(root.resolve("memwall-test"))
                .javaOptions(options).output(new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8));
    }

    private List<String> outLines() {
        return out.toString(StandardCharsets.UTF_8).lines().toList();
    }

    private List<String> errLines() {
        return err.toString(StandardCharsets.UTF_8).lines().toList();
    }

    @Test
    void everyLineArrivesWholeWithItsRankPrefix() throws Exception {
        for (int nproc : new int[]{2, 3}) {
            out.reset();
            err.reset();
            int lines = 200;
            LaunchResult r = launcher(nproc, "lines", String.valueOf(lines)).build().run();
            assertThat(r.exitCode()).as("%s", errLines()).isZero();
            for (List<String> stream : List.of(outLines(), errLines().stream().filter(l -> l.startsWith("[rank ")).toList())) {
                assertThat(stream).hasSize(nproc * lines);
                for (int rank = 0; rank < nproc; rank++) {
                    String prefix = "[rank " + rank + "] ";
                    List<String> mine = stream.stream().filter(l -> l.startsWith(prefix)).toList();
                    List<String> expected = new ArrayList<>();
                    for (int i = 0; i < lines; i++) expected.add(prefix + "line " + i + " of rank " + rank + " ends here");
                    assertThat(mine).as("rank %d of %d", rank, nproc).isEqualTo(expected);
                }
            }
        }
    }

    @Test
    void workersReceiveTheEnvironmentContract() throws Exception {
        LaunchResult r = launcher(3, "env").heap("96m").kernelThreads(2).collectJson(true).build().run();
        assertThat(r.exitCode()).as("%s", errLines()).isZero();
        assertThat(outLines()).as("JSON lines are collected, not echoed").isEmpty();
        Set<String> tokens = new TreeSet<>();
        for (int rank = 0; rank < 3; rank++) {
            JsonNode env = r.ranks().get(rank).summary();
            assertThat(env).as("rank %d", rank).isNotNull();
            assertThat(env.get("rank").asText()).isEqualTo(String.valueOf(rank));
            assertThat(env.get("local_rank").asText()).isEqualTo(String.valueOf(rank));
            assertThat(env.get("world_size").asText()).isEqualTo("3");
            assertThat(env.get("job_id").asText()).matches("[0-9a-f]{32}");
            assertThat(env.get("run_dir").asText()).isEqualTo(root.resolve("memwall-test").resolve(env.get("job_id").asText()).toString());
            assertThat(env.get("run_dir_mode").asText()).isEqualTo("rwx------");
            assertThat(env.get("root_mode").asText()).isEqualTo("rwx------");
            assertThat(env.get("threads").asText()).isEqualTo("2");
            // -Xmx96m comes after the inherited -Xmx64m and wins; the JVM reports a little less (one survivor space)
            assertThat(env.get("max_heap").asLong()).isBetween(80L << 20, 96L << 20);
            tokens.add(env.get("job_id").asText());
            assertThat(Path.of(env.get("run_dir").asText())).as("removed at the end").doesNotExist();
        }
        assertThat(tokens).as("one job id for every rank").hasSize(1);
        JsonNode all = r.toJson();
        assertThat(all.get("world_size").asInt()).isEqualTo(3);
        assertThat(all.get("exit_code").asInt()).isZero();
        assertThat(all.get("ranks")).hasSize(3);
        assertThat(all.get("ranks").get(2).get("rank").asText()).isEqualTo("2");
    }

    @Test
    void aFailingRankStopsTheOthersAndGivesItsStatus() throws Exception {
        LaunchResult r = launcher(3, "exit", "1", "3").build().run();
        assertThat(r.exitCode()).as("%s", errLines()).isEqualTo(3);
        assertThat(r.failedRank()).isEqualTo(1);
        assertThat(errLines()).contains("memwall launch: rank 1 exited with status 3; stopped ranks 0, 2");
        for (int rank : new int[]{0, 2}) {
            assertThat(r.ranks().get(rank).stopped()).isTrue();
            assertThat(r.ranks().get(rank).status()).as("rank %d ended by SIGTERM", rank).isEqualTo(143);
        }
        assertThat(root.resolve("memwall-test")).isEmptyDirectory();
    }

    @Test
    void aWorkerKilledBySigkillEndsTheJobNamingRankAndSignal() throws Exception {
        long start = System.nanoTime();
        LaunchResult r = launcher(2, "kill9", "1").build().run();
        double seconds = (System.nanoTime() - start) / 1e9;
        assertThat(r.exitCode()).as("%s", errLines()).isEqualTo(137);
        assertThat(errLines()).contains("memwall launch: rank 1 exited with status 137 (killed by SIGKILL); stopped rank 0");
        assertThat(r.ranks().get(0).status()).isEqualTo(143);
        // The survivor would sleep a minute; the whole launch, JVM starts included, ends far sooner.
        assertThat(seconds).as("seconds from launch to the end").isLessThan(30);
        assertThat(root.resolve("memwall-test")).isEmptyDirectory();
    }

    @Test
    void workersThatIgnoreSigtermAreKilledAfterTheGracePeriod() throws Exception {
        LaunchResult r = launcher(2, "ignore-term", "0", "5").grace(Duration.ofMillis(500)).build().run();
        assertThat(r.exitCode()).as("%s", errLines()).isEqualTo(5);
        assertThat(r.ranks().get(1).status()).as("rank 1 ignored SIGTERM and got SIGKILL").isEqualTo(137);
        assertThat(errLines()).contains("memwall launch: rank 0 exited with status 5; stopped rank 1");
    }

    @Test
    void childProcessesOfWorkersDoNotOutliveTheJob() throws Exception {
        LaunchResult r = launcher(2, "child", "0", "4").build().run();
        assertThat(r.exitCode()).as("%s", errLines()).isEqualTo(4);
        List<Long> pids = outLines().stream().filter(l -> l.contains("] child ")).map(l -> Long.parseLong(l.substring(l.lastIndexOf(' ') + 1))).toList();
        assertThat(pids).hasSize(2);
        for (long pid : pids) {
            assertThat(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)).as("sleep %d", pid).isFalse();
        }
    }

    @Test
    void processesDaemonizedByWorkersDoNotOutliveTheJob() throws Exception {
        LaunchResult r = launcher(2, "daemon").build().run();
        assertThat(r.exitCode()).as("%s", errLines()).isZero();
        List<Long> pids = outLines().stream().filter(l -> l.contains("] child ")).map(l -> Long.parseLong(l.substring(l.lastIndexOf(' ') + 1))).toList();
        assertThat(pids).hasSize(2);
        for (long pid : pids) {
            assertThat(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)).as("sleep %d", pid).isFalse();
        }
    }

    /** Starts {@link LaunchingMain} with two workers that wait a minute; returns once both run, with their pids. */
    private Process launcherProcess(List<Long> workers) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Xmx64m",
                "-cp", System.getProperty("java.class.path"), LaunchingMain.class.getName(), root.resolve("memwall-test").toString(),
                "2", "exit", "9", "0"));
        Process launcher = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.DISCARD).start();
        var lines = new java.io.BufferedReader(new java.io.InputStreamReader(launcher.getInputStream(), StandardCharsets.UTF_8));
        for (String line; workers.size() < 2 && (line = lines.readLine()) != null; ) {
            if (line.contains("] all started, pid ")) workers.add(Long.parseLong(line.substring(line.lastIndexOf(' ') + 1)));
        }
        assertThat(workers).as("both workers started").hasSize(2);
        // keep reading, so the launcher never blocks on a full pipe
        Thread drain = new Thread(() -> {
            try {
                while (lines.readLine() != null) {
                    // discard
                }
            } catch (java.io.IOException e) {
                // the launcher is gone
            }
        });
        drain.setDaemon(true);
        drain.start();
        return launcher;
    }

    private static void awaitGone(List<Long> pids) throws Exception {
        for (long pid : pids) {
            var handle = ProcessHandle.of(pid);
            if (handle.isPresent()) {
                try {
                    handle.get().onExit().get(30, java.util.concurrent.TimeUnit.SECONDS);
                } catch (java.util.concurrent.TimeoutException e) {
                    throw new AssertionError("worker " + pid + " still running 30 s after its launcher ended");
                }
            }
        }
    }

    @Test
    void aLauncherStoppedBySigtermStopsItsWorkersAndRemovesTheRunDirectory() throws Exception {
        List<Long> workers = new ArrayList<>();
        Process launcher = launcherProcess(workers);
        try {
            assertThat(root.resolve("memwall-test")).isNotEmptyDirectory();
            launcher.destroy(); // SIGTERM
            assertThat(launcher.waitFor(60, java.util.concurrent.TimeUnit.SECONDS)).as("launcher ended").isTrue();
        } finally {
            launcher.destroyForcibly();
        }
        assertThat(launcher.exitValue()).isEqualTo(143);
        for (long pid : workers) {
            assertThat(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)).as("worker %d", pid).isFalse();
        }
        assertThat(root.resolve("memwall-test")).isEmptyDirectory();
    }

    /** SIGKILL leaves the launcher no time to clean up: its workers notice and exit, and the next launch removes the run directory. */
    @Test
    void workersOfALauncherKilledBySigkillExitAndTheNextLaunchRemovesTheirRunDirectory() throws Exception {
        List<Long> workers = new ArrayList<>();
        Process launcher = launcherProcess(workers);
        launcher.destroyForcibly();
        launcher.waitFor();
        awaitGone(workers);
        Path jobs = root.resolve("memwall-test");
        List<Path> left;
        try (var s = Files.list(jobs)) {
            left = s.toList();
        }
        assertThat(left).as("the killed launcher's run directory").hasSize(1);
        assertThat(launcher(1, "lines", "1").build().run().exitCode()).isZero();
        assertThat(jobs).isEmptyDirectory();
    }

    @Test
    void staleRunDirectoriesOfDeadLaunchersAreRemovedLiveOnesKept() throws Exception {
        Path jobs = Files.createDirectories(root.resolve("memwall-test"));
        Process gone = new ProcessBuilder("true").start();
        gone.waitFor();
        ProcessHandle self = ProcessHandle.current();
        long selfStart = self.info().startInstant().orElseThrow().toEpochMilli();
        Path dead = owned(jobs, gone.pid(), selfStart);
        Path recycled = owned(jobs, self.pid(), selfStart - 3_600_000); // our pid, but a process started an hour earlier
        Path live = owned(jobs, self.pid(), selfStart);
        Path unclaimed = Files.createDirectory(jobs.resolve(RunDirectory.newJobId())); // its launcher may be writing the file now
        Path other = Files.createDirectory(jobs.resolve("not-a-job"));

        LaunchResult r = launcher(1, "lines", "1").build().run();
        assertThat(r.exitCode()).isZero();
        assertThat(dead).doesNotExist();
        assertThat(recycled).doesNotExist();
        assertThat(live).isDirectory();
        assertThat(unclaimed).isDirectory();
        assertThat(other).isDirectory();

        Files.setLastModifiedTime(unclaimed, java.nio.file.attribute.FileTime.from(java.time.Instant.now().minus(RunDirectory.UNCLAIMED_GRACE.multipliedBy(2))));
        assertThat(RunDirectory.removeStale(jobs)).containsExactly(unclaimed);
        assertThat(live).isDirectory();
    }

    private static Path owned(Path jobs, long pid, long start) throws Exception {
        Path dir = Files.createDirectory(jobs.resolve(RunDirectory.newJobId()));
        Files.writeString(dir.resolve(RunDirectory.OWNER_FILE), "pid=" + pid + "\nstart=" + start + "\n");
        Files.writeString(dir.resolve("segment"), "data");
        return dir;
    }

    @Test
    void kernelThreadsDefaultToTheCoresDividedAmongTheWorkers() {
        org.junit.jupiter.api.Assumptions.assumeTrue(System.getProperty("memwall.threads") == null, "-Dmemwall.threads set for the tests");
        int cores = Runtime.getRuntime().availableProcessors();
        assertThat(Launcher.builder("Main").nproc(1).build().kernelThreads()).isEqualTo(cores);
        assertThat(Launcher.builder("Main").nproc(2).build().kernelThreads()).isEqualTo(Math.max(1, cores / 2));
        assertThat(Launcher.builder("Main").nproc(2 * cores + 1).build().kernelThreads()).as("at least one").isEqualTo(1);
        assertThat(Launcher.builder("Main").nproc(2).build().command()).contains("-Dmemwall.threads=" + Math.max(1, cores / 2));
    }

    @Test
    void badSettingsAreRefusedWithTheirName() {
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> Launcher.builder("Main").nproc(0))
                .hasMessageContaining("number of workers").hasMessageContaining("0");
        for (String heap : new String[]{"2x", "", "-1g", "0", "1.5g"}) {
            org.assertj.core.api.Assertions.assertThatThrownBy(() -> Launcher.builder("Main").heap(heap))
                    .as(heap).hasMessageContaining("heap size '" + heap + "'");
        }
        assertThat(HeapSize.parse("2g")).isEqualTo(2L << 30);
        assertThat(HeapSize.parse("512M")).isEqualTo(512L << 20);
        assertThat(HeapSize.xmx(HeapSize.parse("1536m"))).isEqualTo("-Xmx1536m");
        assertThat(Arrays.asList(ExitStatus.describe(3), ExitStatus.describe(143), ExitStatus.describe(139)))
                .containsExactly("status 3", "status 143 (killed by SIGTERM)", "status 139 (killed by SIGSEGV)");
    }
}
