package dev.memwall.cli;

import dev.memwall.io.SafeTensors;
import dev.memwall.kernels.Vectorization;
import dev.memwall.train.TrainingState;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
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
 * {@code train --save} killed with SIGKILL at random moments (seeded), in a child JVM that saves after every step:
 * every time, the checkpoint {@code latest} names is complete and loads, and resuming from it to the last step ends
 * with files byte-identical to those of a run that was never interrupted.
 */
class KilledTrainingResumesTest {
    private static final int STEPS = 12, TRIALS = 30;
    private static final String[] TRAIN = {"train", "--steps", String.valueOf(STEPS), "--dim", "16", "--layers", "1",
            "--heads", "2", "--batch", "4", "--digits", "1", "--eval-examples", "4", "--eval-every", "1", "--no-progress"};
    private static final String[] FILES = {"model.safetensors", "optimizer.safetensors", "state.json"};

    @TempDir
    Path dir;

    @Test
    void killedAtRandomMomentsTheLatestCheckpointLoadsAndResumesBitIdentically() throws Exception {
        // The uninterrupted run, in a child JVM like the killed ones; it also times how long the saving part lasts.
        Path reference = dir.resolve("reference");
        Process whole = child(reference);
        long firstSave = awaitFirstCheckpoint(whole, reference);
        assertThat(whole.waitFor(5, TimeUnit.MINUTES)).as("reference run finished").isTrue();
        assertThat(whole.exitValue()).as("reference run's exit code").isZero();
        long saving = System.nanoTime() - firstSave;
        assertThat(latest(reference)).isEqualTo(String.format("step-%06d", STEPS));

        Random random = new Random(20261129);
        int midSave = 0;
        List<String> killedAt = new ArrayList<>();
        for (int trial = 0; trial < TRIALS; trial++) {
            Path run = dir.resolve("trial-" + trial);
            Process p = child(run);
            awaitFirstCheckpoint(p, run);
            LockSupport.parkNanos((long) (random.nextDouble() * saving));
            p.destroyForcibly(); // SIGKILL: no shutdown hooks, no finally blocks, no flushing
            p.waitFor();

            String latest = latest(run);
            killedAt.add(latest);
            Path checkpoint = run.resolve(latest);
            for (String f : FILES) assertThat(checkpoint.resolve(f)).as("trial %d: %s", trial, f).isRegularFile();
            assertThat(TrainingState.inspect(run).directory()).isEqualTo(checkpoint);
            SafeTensors.read(checkpoint.resolve("model.safetensors")).close();
            SafeTensors.read(checkpoint.resolve("optimizer.safetensors")).close();
            if (interruptedWhileSaving(run, latest)) midSave++;

            CliRunner.Result resumed = CliRunner.run(CliRunner.args(TRAIN, "--resume", run.toString(), "--save", run.toString()));
            assertThat(resumed.exit()).as("trial %d resumed from %s: %s", trial, latest, resumed).isZero();
            Path end = run.resolve(String.format("step-%06d", STEPS));
            for (String f : FILES) {
                assertThat(Files.readAllBytes(end.resolve(f))).as("trial %d (killed after %s): %s", trial, latest, f)
                        .isEqualTo(Files.readAllBytes(reference.resolve(end.getFileName()).resolve(f)));
            }
        }
        System.out.printf("killed at %s; %d of %d while saving; saving took %.0f ms%n", killedAt, midSave, TRIALS, saving / 1e6);
        // The kills landed at many moments, several of them in the middle of writing a checkpoint.
        assertThat(killedAt.stream().distinct().count()).as("distinct checkpoints at the kill: %s", killedAt).isGreaterThan(3);
        assertThat(midSave).as("kills while a checkpoint was being written, of %d", TRIALS).isPositive();
    }

    /** {@code memwall train --save dir} in a child JVM, its output discarded. */
    private static Process child(Path dir) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx256m", "-XX:+UseSerialGC"));
        cmd.addAll(Vectorization.childJvmOptions()); // the same kernel bodies as the uninterrupted run in this JVM
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), Main.class.getName()));
        cmd.addAll(List.of(CliRunner.args(TRAIN, "--save", dir.toString())));
        return new ProcessBuilder(cmd).redirectOutput(ProcessBuilder.Redirect.DISCARD)
                .redirectError(ProcessBuilder.Redirect.DISCARD).start();
    }

    /** Waits until {@code dir/latest} exists (the first checkpoint is complete) and returns when, in nanoTime. */
    private static long awaitFirstCheckpoint(Process p, Path dir) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(2);
        while (!Files.exists(dir.resolve("latest"))) {
            assertThat(p.isAlive()).as("child ended (exit %s) before its first checkpoint", p.isAlive() ? "-" : p.exitValue()).isTrue();
            assertThat(System.nanoTime()).as("first checkpoint within 2 minutes").isLessThan(deadline);
            Thread.sleep(1);
        }
        return System.nanoTime();
    }

    private static String latest(Path dir) throws IOException {
        return Files.readString(dir.resolve("latest")).trim();
    }

    /** Whether the kill left a temporary file or a newer step directory than {@code latest} behind. */
    private static boolean interruptedWhileSaving(Path dir, String latest) throws IOException {
        try (Stream<Path> all = Files.walk(dir)) {
            return all.anyMatch(p -> p.getFileName().toString().endsWith(".tmp")
                    || p.getFileName().toString().startsWith("step-") && p.getFileName().toString().compareTo(latest) > 0);
        }
    }
}
