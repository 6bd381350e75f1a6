package dev.memwall.cli;

import dev.memwall.train.TrainingState;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@code kill -9} of a worker mid-run in a {@code train --zero 2 --save} job (a checkpoint every second step, gradient
 * reduce-scatters in flight on the communication thread during backward; the moment is seeded-random within two steps): the other worker and the launcher exit
 * non-zero within 10 s naming the killed rank, and the last committed checkpoint loads and trains on.
 */
@Timeout(600)
class KilledStageTwoWorkerTest {
    private static final String[] TRAIN = {"train", "--steps", "100000", "--dim", "16", "--layers", "1", "--heads", "2",
            "--batch", "4", "--digits", "1", "--eval-examples", "4", "--eval-every", "2", "--no-progress", "--zero", "2"};
    private final java.util.Random random = new java.util.Random(20261129);

    @TempDir
    Path dir;

    /** Under the launcher: it names the rank and the signal and exits with the killed rank's status; rank 0 is gone too. */
    @Test
    void theLauncherAndTheOtherWorkerEndWithinTenSecondsNamingTheRank() throws Exception {
        Path run = dir.resolve("run");
        String[] args = CliRunner.args(new String[]{"launch", "--nproc", "2"}, CliRunner.args(TRAIN, "--save", run.toString()));
        CompletableFuture<CliRunner.Result> launch = CompletableFuture.supplyAsync(() -> CliRunner.run(args));
        awaitMidStep(run, launch::isDone);
        ProcessHandle victim = worker(run, 1), peer = worker(run, 0);
        long killed = System.nanoTime();
        victim.destroyForcibly(); // SIGKILL
        CliRunner.Result r = launch.get(10, TimeUnit.SECONDS);
        peer.onExit().get(Math.max(0, 10_000_000_000L - (System.nanoTime() - killed)), TimeUnit.NANOSECONDS);
        double seconds = (System.nanoTime() - killed) / 1e9;
        assertThat(seconds).as("launcher and rank 0 ended within 10 s").isLessThan(10);
        assertThat(r.exit()).as("%s", r).isEqualTo(137);
        assertThat(r.err()).contains("memwall launch: rank 1 exited with status 137 (killed by SIGKILL); stopped rank 0");
        System.out.printf("launcher and rank 0 ended %.1f s after rank 1 was killed%n", seconds);
        assertResumes(run);
    }

    /**
     * Without the launcher (nobody stops rank 0 for it): rank 0 notices the dead peer on its own through the transport's
     * heartbeats, wherever it waits — a bucket's reduce-scatter, a barrier of the save — and exits non-zero naming rank 1.
     */
    @Test
    void theOtherWorkerNoticesByItselfWithinTenSecondsNamingTheRank() throws Exception {
        Path run = dir.resolve("run"), runDir = Files.createTempDirectory(dir, "shm-");
        String token = ShardedTrainCommandTest.newToken();
        String[] args = CliRunner.args(TRAIN, "--save", run.toString());
        List<Process> ranks = List.of(ShardedTrainCommandTest.start(0, 2, token, runDir, args),
                ShardedTrainCommandTest.start(1, 2, token, runDir, args));
        try {
            awaitMidStep(run, () -> !ranks.get(0).isAlive() || !ranks.get(1).isAlive());
            long killed = System.nanoTime();
            ranks.get(1).destroyForcibly();
            assertThat(ranks.get(0).waitFor(10, TimeUnit.SECONDS)).as("rank 0 ended within 10 s").isTrue();
            double seconds = (System.nanoTime() - killed) / 1e9;
            String err = ShardedTrainCommandTest.stderr(ranks.get(0));
            assertThat(ranks.get(0).exitValue()).as(err).isNotZero();
            assertThat(err).as("after %.1f s", seconds).contains("rank 1");
            System.out.printf("rank 0 ended %.1f s after rank 1 was killed: %s%n", seconds,
                    err.lines().filter(l -> l.contains("rank 1")).findFirst().orElse(""));
        } finally {
            for (Process p : ranks) p.destroyForcibly().waitFor();
            ShardedTrainCommandTest.delete(runDir);
        }
        assertResumes(run);
    }

    /** The checkpoint {@code latest} names verifies and trains one step further at stage 2 in one process. */
    private static void assertResumes(Path run) throws IOException {
        TrainingState.Info info = TrainingState.inspect(run);
        assertThat(info.zeroStage()).isEqualTo(2);
        String[] resume = TRAIN.clone();
        resume[List.of(TRAIN).indexOf("--steps") + 1] = Long.toString(info.step() + 1);
        CliRunner.Result r = CliRunner.run(CliRunner.args(resume, "--resume", run.toString(), "--json"));
        assertThat(r.exit()).as("%s", r).isZero();
        assertThat(r.lastJson().get("steps").asLong()).isEqualTo(info.step() + 1);
    }

    /**
     * Returns at a seeded random moment of the two steps after a checkpoint (saves come every second step): the time
     * from the step-2 to the step-4 checkpoint is measured, and a random part of it waited after the step-4 one.
     */
    private void awaitMidStep(Path run, java.util.function.BooleanSupplier ended) throws Exception {
        awaitCheckpoints(run, 2, ended);
        long t2 = System.nanoTime();
        awaitCheckpoints(run, 4, ended);
        long span = System.nanoTime() - t2;
        java.util.concurrent.locks.LockSupport.parkNanos((long) (random.nextDouble() * span));
    }

    /** Waits until {@code latest} names step {@code steps} or later (the job is past its start and saving every step). */
    private static void awaitCheckpoints(Path run, int steps, java.util.function.BooleanSupplier ended) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(3);
        while (true) {
            Path latest = run.resolve("latest");
            if (Files.isRegularFile(latest)) {
                String name = Files.readString(latest).trim();
                if (name.matches("step-\\d+") && Long.parseLong(name.substring(5)) >= steps) return;
            }
            assertThat(ended.getAsBoolean()).as("the job ended before its checkpoint at step %d", steps).isFalse();
            assertThat(System.nanoTime()).as("checkpoint at step %d within 3 minutes", steps).isLessThan(deadline);
            Thread.sleep(5);
        }
    }

    /** The worker JVM of rank {@code rank} of the job saving to {@code run}: a descendant of this JVM. */
    private static ProcessHandle worker(Path run, int rank) throws IOException {
        for (ProcessHandle h : ProcessHandle.current().descendants().toList()) {
            Optional<String> environ = read(Path.of("/proc", Long.toString(h.pid()), "environ"));
            Optional<String> cmdline = read(Path.of("/proc", Long.toString(h.pid()), "cmdline"));
            if (cmdline.isPresent() && cmdline.get().contains(run.toString()) && environ.isPresent()
                    && ("\0" + environ.get()).contains("\0RANK=" + rank + "\0")) {
                return h;
            }
        }
        throw new AssertionError("no worker of rank " + rank + " saving to " + run);
    }

    private static Optional<String> read(Path p) {
        try {
            return Optional.of(new String(Files.readAllBytes(p), StandardCharsets.ISO_8859_1));
        } catch (IOException e) {
            return Optional.empty(); // gone, or not ours
        }
    }
}
