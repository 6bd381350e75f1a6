package dev.memwall.sharding.launch;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * The owner-only directory of one job ({@code MEMWALL_RUN_DIR}): {@code ROOT/<job-id>}, where ROOT is
 * {@code /dev/shm/memwall-<user>} when /dev/shm exists and {@code java.io.tmpdir/memwall-<user>} otherwise. Both are
 * mode 0700, and ROOT must belong to the user running the launcher (another user could have created it first to read
 * or plant files). The job directory holds a file {@value #OWNER_FILE} with the launcher's pid and start time, so that
 * the next launch can tell a live job from one whose launcher died (a pid alone can be recycled) and remove the latter.
 */
public final class RunDirectory implements AutoCloseable {
    /** The file in every run directory naming the launcher that owns it; workers must not use this name. */
    public static final String OWNER_FILE = "launcher";
    /** A directory without an owner file is left alone this long: its launcher may be about to write the file. */
    static final Duration UNCLAIMED_GRACE = Duration.ofMinutes(1);
    /** Start times are compared with this tolerance, in case two JDKs round /proc's clock ticks differently. */
    private static final long START_TOLERANCE_MS = 1000;
    private static final Set<PosixFilePermission> OWNER_ONLY = PosixFilePermissions.fromString("rwx------");
    private static final SecureRandom RANDOM = new SecureRandom();

    private final Path path;
    private final String jobId;

    private RunDirectory(Path path, String jobId) {
        this.path = path;
        this.jobId = jobId;
    }

    /** {@code /dev/shm/memwall-<user>} if /dev/shm is a writable directory, else {@code <java.io.tmpdir>/memwall-<user>}. */
    public static Path defaultRoot() {
        Path shm = Path.of("/dev/shm");
        Path base = Files.isDirectory(shm) && Files.isWritable(shm) ? shm : Path.of(System.getProperty("java.io.tmpdir"));
        String user = System.getProperty("user.name", "").replaceAll("[^A-Za-z0-9._-]", "_");
        return base.resolve("memwall-" + (user.isEmpty() || user.startsWith(".") ? "uid" + currentUid() : user));
    }

    /**
     * Creates a fresh job directory under {@code root} (created 0700 if missing, refused if it belongs to another
     * user, is a symbolic link or is not a directory) with a new random job id, after removing stale job directories.
     */
    public static RunDirectory create(Path root) throws IOException {
        ensureRoot(root);
        removeStale(root);
        for (int attempt = 0; ; attempt++) {
            String id = newJobId();
            Path dir = root.resolve(id);
            try {
                Files.createDirectory(dir, PosixFilePermissions.asFileAttribute(OWNER_ONLY));
            } catch (FileAlreadyExistsException e) { // 128 random bits: only a broken random source repeats
                if (attempt >= 3) throw e;
                continue;
            }
            Files.setPosixFilePermissions(dir, OWNER_ONLY); // the umask may have taken bits away; make it exact
            ProcessHandle self = ProcessHandle.current();
            long start = self.info().startInstant().map(Instant::toEpochMilli).orElse(0L);
            Path tmp = dir.resolve(OWNER_FILE + ".tmp");
            Files.writeString(tmp, "pid=" + self.pid() + "\nstart=" + start + "\n", StandardCharsets.UTF_8);
            Files.move(tmp, dir.resolve(OWNER_FILE), java.nio.file.StandardCopyOption.ATOMIC_MOVE);
            return new RunDirectory(dir, id);
        }
    }

    /** A random 32-hex-digit token (128 bits from SecureRandom). */
    public static String newJobId() {
        byte[] b = new byte[16];
        RANDOM.nextBytes(b);
        return HexFormat.of().formatHex(b);
    }

    public Path path() {
        return path;
    }

    public String jobId() {
        return jobId;
    }

    /** Removes the directory and everything in it; safe to call more than once and from several threads. */
    @Override
    public void close() throws IOException {
        deleteTree(path);
    }

    /**
     * Removes the job directories under {@code root} whose launcher is no longer running: its pid is gone or now
     * belongs to a process started at another time. Returns the directories removed.
     */
    public static List<Path> removeStale(Path root) throws IOException {
        List<Path> removed = new ArrayList<>();
        if (!Files.isDirectory(root, LinkOption.NOFOLLOW_LINKS)) return removed;
        try (DirectoryStream<Path> jobs = Files.newDirectoryStream(root, p -> p.getFileName().toString().matches("[0-9a-f]{32}"))) {
            for (Path job : jobs) {
                if (!Files.isDirectory(job, LinkOption.NOFOLLOW_LINKS) || isLive(job)) continue;
                deleteTree(job);
                removed.add(job);
            }
        }
        return removed;
    }

    /** Whether the launcher named in {@code job}'s owner file is still running (or the file may yet be written). */
    static boolean isLive(Path job) throws IOException {
        Optional<long[]> owner = readOwner(job.resolve(OWNER_FILE));
        if (owner.isEmpty()) {
            try {
                Instant modified = Files.getLastModifiedTime(job, LinkOption.NOFOLLOW_LINKS).toInstant();
                return modified.isAfter(Instant.now().minus(UNCLAIMED_GRACE));
            } catch (NoSuchFileException e) {
                return true; // removed meanwhile by someone else: nothing to do
            }
        }
        long pid = owner.get()[0], start = owner.get()[1];
        return ProcessHandle.of(pid).filter(ProcessHandle::isAlive)
                .flatMap(p -> p.info().startInstant())
                .map(s -> Math.abs(s.toEpochMilli() - start) <= START_TOLERANCE_MS)
                .orElse(false);
    }

    private static Optional<long[]> readOwner(Path file) throws IOException {
        List<String> lines;
        try {
            lines = Files.readAllLines(file, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            return Optional.empty();
        }
        Long pid = null, start = null;
        for (String line : lines) {
            try {
                if (line.startsWith("pid=")) pid = Long.parseLong(line.substring(4).trim());
                if (line.startsWith("start=")) start = Long.parseLong(line.substring(6).trim());
            } catch (NumberFormatException e) {
                return Optional.empty();
            }
        }
        return pid == null || start == null ? Optional.empty() : Optional.of(new long[]{pid, start});
    }

    private static void ensureRoot(Path root) throws IOException {
        try {
            Files.createDirectories(root.getParent());
            Files.createDirectory(root, PosixFilePermissions.asFileAttribute(OWNER_ONLY));
        } catch (FileAlreadyExistsException e) {
            // checked below
        }
        if (Files.isSymbolicLink(root) || !Files.isDirectory(root, LinkOption.NOFOLLOW_LINKS)) {
            throw new IOException(root + ": not a directory (memwall keeps its run directories there)");
        }
        int owner = (Integer) Files.getAttribute(root, "unix:uid", LinkOption.NOFOLLOW_LINKS);
        if (owner != currentUid()) {
            throw new IOException(root + ": belongs to uid " + owner + ", not to this user (uid " + currentUid()
                    + "); remove it or set java.io.tmpdir elsewhere");
        }
        if (!Files.getPosixFilePermissions(root, LinkOption.NOFOLLOW_LINKS).equals(OWNER_ONLY)) {
            Files.setPosixFilePermissions(root, OWNER_ONLY);
        }
    }

    private static long currentUid() {
        return new com.sun.security.auth.module.UnixSystem().getUid();
    }

    private static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir, LinkOption.NOFOLLOW_LINKS)) return;
        try {
            // walkFileTree does not follow symbolic links: a link planted inside is removed, not its target.
            Files.walkFileTree(dir, new SimpleFileVisitor<>() {
                @Override
                public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
                    Files.deleteIfExists(file);
                    return FileVisitResult.CONTINUE;
                }

                @Override
                public FileVisitResult visitFileFailed(Path file, IOException e) throws IOException {
                    if (e instanceof NoSuchFileException) return FileVisitResult.CONTINUE;
                    throw e;
                }

                @Override
                public FileVisitResult postVisitDirectory(Path d, IOException e) throws IOException {
                    if (e != null && !(e instanceof NoSuchFileException)) throw e;
                    Files.deleteIfExists(d);
                    return FileVisitResult.CONTINUE;
                }
            });
        } catch (NoSuchFileException e) {
            // removed concurrently (the shutdown hook and the launcher's own cleanup may race): that is the goal
        } catch (UncheckedIOException e) {
            throw e.getCause();
        }
    }
}
