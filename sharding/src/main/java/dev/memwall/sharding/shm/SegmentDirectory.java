package dev.memwall.sharding.shm;

import dev.memwall.sharding.JoinRefusedException;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipal;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The job's run directory (MEMWALL_RUN_DIR) as the backend sees it, a directory of segments: checked to be an
 * owner-only directory of this user before anything is created in it, and holding one segment per rank named
 * {@code memwall-<job-id>-rank<r>.shm}, so the job's token is in every name. (The launcher creates, claims and removes
 * the directory itself: {@code dev.memwall.sharding.launch.RunDirectory}.)
 */
final class SegmentDirectory {
    private static final Pattern SEGMENT = Pattern.compile("memwall-([0-9a-f]{32})-rank(\\d+)\\.shm");
    private static final Set<PosixFilePermission> OTHERS = EnumSet.of(PosixFilePermission.GROUP_READ,
            PosixFilePermission.GROUP_WRITE, PosixFilePermission.GROUP_EXECUTE, PosixFilePermission.OTHERS_READ,
            PosixFilePermission.OTHERS_WRITE, PosixFilePermission.OTHERS_EXECUTE);

    private final Path dir;
    private final String jobId;

    SegmentDirectory(Path dir, String jobId) {
        this.dir = dir;
        this.jobId = jobId;
    }

    Path segment(int rank) {
        return dir.resolve("memwall-" + jobId + "-rank" + rank + ".shm");
    }

    /** Refuses a directory that is missing, a link, someone else's, or open to the group or others. */
    void check() {
        try {
            if (!Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)) {
                throw new JoinRefusedException("MEMWALL_RUN_DIR " + dir + " is not a directory (the launcher creates it)");
            }
            UserPrincipal owner = Files.getOwner(dir, LinkOption.NOFOLLOW_LINKS);
            String me = System.getProperty("user.name");
            if (!owner.getName().equals(me)) {
                throw new JoinRefusedException("MEMWALL_RUN_DIR " + dir + " belongs to " + owner.getName() + ", not to "
                        + me + "; segments must live in a directory only their owner can open");
            }
            Set<PosixFilePermission> perms = Files.getPosixFilePermissions(dir, LinkOption.NOFOLLOW_LINKS);
            Set<PosixFilePermission> open = EnumSet.noneOf(PosixFilePermission.class);
            for (PosixFilePermission p : perms) if (OTHERS.contains(p)) open.add(p);
            if (!open.isEmpty()) {
                throw new JoinRefusedException("MEMWALL_RUN_DIR " + dir + " has permissions "
                        + PosixFilePermissions.toString(perms) + ": other users could read the job's segments; it must "
                        + "be owner-only (rwx------)");
            }
        } catch (IOException e) {
            throw new JoinRefusedException("cannot inspect MEMWALL_RUN_DIR " + dir + ": " + e, e);
        }
    }

    /**
     * Refuses to join when the directory holds segments of another job: this process's token is not the one the
     * job's launcher gave its workers (or the directory is another job's).
     */
    void refuseForeignSegments() {
        List<String> foreign = new ArrayList<>();
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(dir, "memwall-*.shm")) {
            for (Path p : entries) {
                Matcher m = SEGMENT.matcher(p.getFileName().toString());
                if (m.matches() && !m.group(1).equals(jobId)) foreign.add(p.getFileName().toString());
            }
        } catch (IOException e) {
            throw new JoinRefusedException("cannot list MEMWALL_RUN_DIR " + dir + ": " + e, e);
        }
        if (!foreign.isEmpty()) {
            throw new JoinRefusedException("job token mismatch: MEMWALL_JOB_ID=" + jobId + " but " + dir
                    + " holds segments of another job " + foreign + "; a process without the job's token cannot join");
        }
    }
}
