package dev.memwall.sharding.shm;

import dev.memwall.sharding.LaunchEnvironment;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
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

/** What the launcher provides a job, made by hand for tests: a token and an owner-only run directory in /dev/shm. */
final class TestJob implements AutoCloseable {
    final String jobId = newToken();
    final Path runDir;

    TestJob() {
        try {
            Path base = Files.isWritable(Path.of("/dev/shm")) ? Path.of("/dev/shm") : Path.of(System.getProperty("java.io.tmpdir"));
            runDir = Files.createTempDirectory(base, "memwall-test-",
                    PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static String newToken() {
        byte[] b = new byte[16];
        new SecureRandom().nextBytes(b);
        return HexFormat.of().formatHex(b);
    }

    LaunchEnvironment env(int rank, int n) {
        return new LaunchEnvironment(rank, n, rank, jobId, runDir);
    }

    /** The variables the launcher sets for a worker. */
    Map<String, String> variables(int rank, int n) {
        Map<String, String> m = new HashMap<>();
        m.put("RANK", Integer.toString(rank));
        m.put("WORLD_SIZE", Integer.toString(n));
        m.put("LOCAL_RANK", Integer.toString(rank));
        m.put("MEMWALL_JOB_ID", jobId);
        m.put("MEMWALL_RUN_DIR", runDir.toString());
        return m;
    }

    List<Path> files() {
        try (Stream<Path> s = Files.list(runDir)) {
            return s.sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Joins N ranks, each on its own thread, as N workers would. */
    List<ShmProcessGroup> join(int n, ShmOptions options) {
        return onThreads(n, r -> ShmProcessGroup.join(env(r, n), options));
    }

    /** Runs {@code task} for ranks 0…n−1 concurrently and returns the results in rank order; bounded by a minute. */
    static <T> List<T> onThreads(int n, Function<Integer, T> task) {
        ExecutorService pool = Executors.newFixedThreadPool(n);
        try {
            List<Future<T>> futures = new ArrayList<>();
            for (int r = 0; r < n; r++) {
                int rank = r;
                futures.add(pool.submit((Callable<T>) () -> task.apply(rank)));
            }
            List<T> out = new ArrayList<>();
            for (Future<T> f : futures) out.add(f.get(60, TimeUnit.SECONDS));
            return out;
        } catch (ExecutionException e) {
            if (e.getCause() instanceof RuntimeException r) throw r;
            throw new IllegalStateException(e.getCause());
        } catch (InterruptedException | TimeoutException e) {
            throw new IllegalStateException("ranks did not finish within a minute", e);
        } finally {
            pool.shutdownNow();
        }
    }

    @Override
    public void close() {
        try (Stream<Path> s = Files.walk(runDir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
