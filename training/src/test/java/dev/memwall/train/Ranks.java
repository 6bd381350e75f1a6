package dev.memwall.train;

import dev.memwall.sharding.ProcessGroup;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Function;
import java.util.stream.Stream;

/**
 * N ranks of one job on N threads of this JVM, each joined to a real shared-memory group through the launcher's
 * environment contract (a fresh token and owner-only run directory made here, as the launcher would).
 */
final class Ranks {
    private Ranks() {
    }

    /** Runs {@code task} on ranks 0…n−1 at once, each with its own group; results in rank order; bounded by 3 minutes. */
    static <T> List<T> run(int n, Function<ProcessGroup, T> task) {
        Path runDir = runDirectory();
        String token = HexFormat.of().formatHex(new SecureRandom().generateSeed(16));
        ExecutorService pool = Executors.newFixedThreadPool(n);
        try {
            List<Future<T>> futures = new ArrayList<>();
            for (int r = 0; r < n; r++) {
                Map<String, String> env = Map.of("RANK", Integer.toString(r), "WORLD_SIZE", Integer.toString(n),
                        "LOCAL_RANK", Integer.toString(r), "MEMWALL_JOB_ID", token, "MEMWALL_RUN_DIR", runDir.toString());
                futures.add(pool.submit((Callable<T>) () -> {
                    try (ProcessGroup group = ProcessGroup.fromEnvironment(env)) {
                        T result = task.apply(group);
                        group.barrier(); // nobody closes its segment while a peer may still read it
                        return result;
                    }
                }));
            }
            List<T> out = new ArrayList<>();
            for (Future<T> f : futures) out.add(f.get(180, TimeUnit.SECONDS));
            return out;
        } catch (ExecutionException e) {
            if (e.getCause() instanceof RuntimeException r) throw r;
            if (e.getCause() instanceof Error err) throw err;
            throw new IllegalStateException(e.getCause());
        } catch (InterruptedException | TimeoutException e) {
            throw new IllegalStateException("ranks did not finish within 3 minutes", e);
        } finally {
            // A rank that failed first returns here while its peers may still be closing their segments: wait for them,
            // so deleting the directory does not race with a peer removing its own file.
            pool.shutdownNow();
            try {
                pool.awaitTermination(60, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            delete(runDir);
        }
    }

    private static Path runDirectory() {
        try {
            Path base = Files.isWritable(Path.of("/dev/shm")) ? Path.of("/dev/shm") : Path.of(System.getProperty("java.io.tmpdir"));
            return Files.createTempDirectory(base, "memwall-train-test-",
                    PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void delete(Path dir) {
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        } catch (NoSuchFileException | UncheckedIOException e) { // a file removed by its owner while listed: list again
            if (Files.exists(dir)) deleteOnce(dir);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void deleteOnce(Path dir) {
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
