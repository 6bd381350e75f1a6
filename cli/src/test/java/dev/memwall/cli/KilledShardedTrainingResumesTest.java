package dev.memwall.cli;

import dev.memwall.train.TrainingState;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * One worker JVM of a two-rank {@code train --zero 1 --save} job SIGKILLed at random moments (seeded), while the
 * job saves after every step: the checkpoint {@code latest} names always verifies (every file the manifest names, with
 * its size and SHA-256), and two fresh ranks resumed from it end with files byte-identical to an uninterrupted job's.
 */
@Timeout(1200)
class KilledShardedTrainingResumesTest {
    private static final int STEPS = 8, TRIALS = 8;
    private static final String[] TRAIN = {"train", "--steps", String.valueOf(STEPS), "--dim", "16", "--layers", "1",
            "--heads", "2", "--batch", "4", "--digits", "1", "--eval-examples", "4", "--eval-every", "1", "--no-progress",
            "--zero", "1", "--json"};
    private static final String[] FILES = {"model.safetensors", "optimizer-rank00000-of-00002.safetensors",
            "optimizer-rank00001-of-00002.safetensors", "state.json"};

    @TempDir
    Path dir;

    @Test
    void killingAWorkerMidRunLeavesACompleteCheckpointThatResumesBitIdentically() throws Exception {
        Path reference = dir.resolve("reference");
        ShardedTrainCommandTest.workers(2, CliRunner.args(TRAIN, "--save", reference.toString()));
        Path end = Path.of(String.format("step-%06d", STEPS));
        // How long the saving part of a job lasts, to spread the kills over it: measured on a job killed at its end.
        Random random = new Random(20261129);
        List<String> killedAt = new ArrayList<>();
        long saving = 0;
        for (int trial = 0; trial < TRIALS; trial++) {
            Path run = dir.resolve("trial-" + trial), runDir = Files.createTempDirectory(dir, "shm-");
            String token = ShardedTrainCommandTest.newToken();
            String[] args = CliRunner.args(TRAIN, "--save", run.toString());
            List<Process> ranks = List.of(ShardedTrainCommandTest.start(0, 2, token, runDir, args),
                    ShardedTrainCommandTest.start(1, 2, token, runDir, args));
            try {
                long first = awaitFirstCheckpoint(ranks, run);
                if (trial == 0) { // the first trial runs to the end and measures the saving span for the others
                    for (Process p : ranks) assertThat(p.waitFor(5, TimeUnit.MINUTES)).isTrue();
                    saving = System.nanoTime() - first;
                    killedAt.add(latest(run));
                    continue;
                }
                LockSupport.parkNanos((long) (random.nextDouble() * saving));
                Process victim = ranks.get(trial % 2), peer = ranks.get(1 - trial % 2);
                victim.destroyForcibly(); // SIGKILL
                victim.waitFor();
                assertThat(peer.waitFor(2, TimeUnit.MINUTES)).as("trial %d: the other rank ends", trial).isTrue();
            } finally {
                for (Process p : ranks) {
                    p.destroyForcibly();
                    ShardedTrainCommandTest.stderr(p);
                }
                ShardedTrainCommandTest.delete(runDir);
            }
            String latest = latest(run);
            if (trial > 0) killedAt.add(latest + (interruptedWhileSaving(run, latest) ? " (mid-save)" : ""));
            // The committed checkpoint verifies: resume refuses it otherwise (missing file, size or digest).
            assertThat(TrainingState.inspect(run).directory()).isEqualTo(run.resolve(latest));
            ShardedTrainCommandTest.workers(2, CliRunner.args(TRAIN, "--resume", run.toString(), "--save", run.toString()));
            for (String f : FILES) {
                assertThat(Files.readAllBytes(run.resolve(end).resolve(f))).as("trial %d (killed after %s): %s", trial, latest, f)
                        .isEqualTo(Files.readAllBytes(reference.resolve(end).resolve(f)));
            }
            try (Stream<Path> s = Files.walk(run)) {
                assertThat(s.filter(p -> p.getFileName().toString().endsWith(".tmp")).toList()).as("trial %d: no temporary file left", trial).isEmpty();
            }
        }
        System.out.printf("killed at %s; saving took %.0f ms%n", killedAt, saving / 1e6);
    }

    private static long awaitFirstCheckpoint(List<Process> ranks, Path dir) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(3);
        while (!Files.exists(dir.resolve("latest"))) {
            for (Process p : ranks) assertThat(p.isAlive()).as("a rank ended before the first checkpoint").isTrue();
            assertThat(System.nanoTime()).as("first checkpoint within 3 minutes").isLessThan(deadline);
            Thread.sleep(1);
        }
        return System.nanoTime();
    }

    /** Whether the kill left a temporary file or a step directory newer than {@code latest} behind. */
    private static boolean interruptedWhileSaving(Path dir, String latest) throws java.io.IOException {
        try (Stream<Path> all = Files.walk(dir)) {
            return all.anyMatch(p -> p.getFileName().toString().endsWith(".tmp")
                    || p.getFileName().toString().startsWith("step-") && p.getFileName().toString().compareTo(latest) > 0);
        }
    }

    private static String latest(Path dir) throws java.io.IOException {
        return Files.readString(dir.resolve("latest")).trim();
    }
}
