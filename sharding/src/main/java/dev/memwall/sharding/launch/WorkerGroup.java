package dev.memwall.sharding.launch;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.stream.Collectors;

/**
 * The running workers of one launch: starts them, waits for "all finished or any failed", stops the rest, and
 * leaves nothing behind. Every wait is bounded: SIGTERM, the grace period, SIGKILL, then at most
 * {@link #KILL_WAIT} for the kernel to reap.
 */
final class WorkerGroup {
    /** How long a SIGKILLed process may take to disappear before the launcher gives up waiting for it. */
    static final Duration KILL_WAIT = Duration.ofSeconds(10);
    /** How often the workers' child processes are looked up, so that orphans of an exited worker are still known. */
    private static final long DESCENDANT_POLL_MS = 500;

    private final int nproc;
    private final Duration grace;
    private final boolean collectJson;
    private final PrintStream out, err;
    private final RunDirectory dir;
    private final List<Worker> workers = new ArrayList<>();
    private final Set<ProcessHandle> descendants = java.util.concurrent.ConcurrentHashMap.newKeySet();
    private volatile boolean stopRequested;

    private static final class Worker {
        final int rank;
        final Process process;
        final LinePump stdout, stderr;
        final Thread outThread, errThread;
        volatile boolean stopped;

        Worker(int rank, Process process, LinePump stdout, LinePump stderr) {
            this.rank = rank;
            this.process = process;
            this.stdout = stdout;
            this.stderr = stderr;
            outThread = daemon(stdout, "memwall-launch-rank" + rank + "-out");
            errThread = daemon(stderr, "memwall-launch-rank" + rank + "-err");
        }
    }

    WorkerGroup(int nproc, Duration grace, boolean collectJson, PrintStream out, PrintStream err, RunDirectory dir) {
        this.nproc = nproc;
        this.grace = grace;
        this.collectJson = collectJson;
        this.out = out;
        this.err = err;
        this.dir = dir;
    }

    /** Starts every worker with {@code command}; if one cannot start, those already started are stopped. */
    void start(List<String> command) throws IOException {
        for (int rank = 0; rank < nproc; rank++) {
            ProcessBuilder pb = new ProcessBuilder(command);
            pb.environment().putAll(Launcher.environment(rank, nproc, dir));
            Process p;
            synchronized (workers) {
                if (stopRequested) throw new IOException("the launcher is being stopped");
                p = pb.start();
                p.getOutputStream().close(); // nothing is typed to N workers at once: a worker reading stdin sees its end
                // In JSON mode the workers' other stdout lines go to stderr: stdout carries only the combined object.
                workers.add(new Worker(rank, p, new LinePump(p.getInputStream(), collectJson ? err : out, rank, collectJson),
                        new LinePump(p.getErrorStream(), err, rank, false)));
            }
        }
    }

    /** Waits until every worker has exited; on the first failure stops the others. */
    LaunchResult monitor() throws InterruptedException {
        BlockingQueue<Worker> exited = new LinkedBlockingQueue<>();
        for (Worker w : workers) w.process.onExit().thenRun(() -> exited.add(w));
        Worker failed = null;
        String message = null;
        long nextPoll = 0;
        for (int remaining = workers.size(); remaining > 0; ) {
            if (System.nanoTime() - nextPoll >= 0) {
                rememberDescendants();
                nextPoll = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(DESCENDANT_POLL_MS);
            }
            Worker w = exited.poll(DESCENDANT_POLL_MS, TimeUnit.MILLISECONDS);
            if (w == null) continue;
            remaining--;
            int status = w.process.exitValue();
            if (status == 0 || failed != null || stopRequested || w.stopped) continue;
            failed = w;
            rememberDescendants();
            List<Worker> others = workers.stream().filter(o -> o.process.isAlive()).toList();
            for (Worker o : others) o.stopped = true;
            message = "memwall launch: rank " + w.rank + " exited with " + ExitStatus.describe(status)
                    + (others.isEmpty() ? "" : "; stopped " + (others.size() == 1 ? "rank " : "ranks ")
                    + others.stream().map(o -> String.valueOf(o.rank)).collect(Collectors.joining(", ")));
            List<Worker> survivors = terminate(others);
            if (!survivors.isEmpty()) {
                message += "; rank(s) " + survivors.stream().map(o -> String.valueOf(o.rank)).collect(Collectors.joining(", "))
                        + " did not exit even after SIGKILL";
                break;
            }
        }
        killOrphans();
        joinPumps();
        if (message != null) {
            synchronized (err) {
                err.println(message);
                err.flush();
            }
        }
        List<LaunchResult.Rank> ranks = new ArrayList<>();
        for (Worker w : workers) {
            int status = w.process.isAlive() ? -1 : w.process.exitValue();
            ranks.add(new LaunchResult.Rank(w.rank, status, w.stopped, w.stdout.lastJson()));
        }
        return new LaunchResult(failed == null ? 0 : failed.process.exitValue(), failed == null ? -1 : failed.rank, message, ranks);
    }

    /** The shutdown hook: the launcher got SIGTERM or SIGINT (or System.exit was called) while workers ran. */
    void stopFromSignal() {
        stopRequested = true;
        List<Worker> alive;
        synchronized (workers) {
            alive = workers.stream().filter(w -> w.process.isAlive()).toList();
        }
        for (Worker w : alive) w.stopped = true;
        if (!alive.isEmpty()) {
            synchronized (err) {
                err.println("memwall launch: stopped; stopping " + (alive.size() == 1 ? "rank " : "ranks ")
                        + alive.stream().map(w -> String.valueOf(w.rank)).collect(Collectors.joining(", ")));
                err.flush();
            }
        }
        cleanUp();
    }

    /** Stops whatever still runs (workers and their children) and removes the run directory. Idempotent. */
    void cleanUp() {
        List<Worker> all;
        synchronized (workers) {
            all = List.copyOf(workers);
        }
        rememberDescendants();
        terminate(all.stream().filter(w -> w.process.isAlive()).toList());
        killOrphans();
        try {
            dir.close();
        } catch (IOException e) {
            synchronized (err) {
                err.println("memwall launch: could not remove the run directory " + dir.path() + ": " + e.getMessage());
            }
        }
    }

    /** SIGTERM to the workers and their children, SIGKILL to what is left after the grace period; returns workers still alive. */
    private List<Worker> terminate(List<Worker> targets) {
        if (targets.isEmpty()) return List.of();
        List<ProcessHandle> handles = new ArrayList<>();
        for (Worker w : targets) {
            handles.add(w.process.toHandle());
            w.process.descendants().forEach(descendants::add);
        }
        handles.addAll(descendants);
        for (ProcessHandle h : handles) h.destroy();
        awaitExit(handles, grace);
        for (ProcessHandle h : handles) if (h.isAlive()) h.destroyForcibly();
        awaitExit(handles, KILL_WAIT);
        return targets.stream().filter(w -> w.process.isAlive()).toList();
    }

    /**
     * Child processes of workers that outlived their worker (or were left by a failed one) are ended too: those seen
     * as descendants while their worker ran, and, since an orphan is re-parented and no longer a descendant, every
     * process whose environment holds this job's MEMWALL_JOB_ID (inherited unless a child cleared its environment).
     */
    private void killOrphans() {
        descendants.addAll(processesOfJob(dir.jobId()));
        List<ProcessHandle> alive = descendants.stream().filter(ProcessHandle::isAlive).toList();
        if (alive.isEmpty()) return;
        for (ProcessHandle h : alive) h.destroy();
        awaitExit(alive, grace);
        for (ProcessHandle h : alive) if (h.isAlive()) h.destroyForcibly();
        awaitExit(alive, KILL_WAIT);
    }

    /** Processes other than this one whose environment has {@code MEMWALL_JOB_ID=jobId} (Linux: /proc/PID/environ). */
    static List<ProcessHandle> processesOfJob(String jobId) {
        if (!Files.isDirectory(Path.of("/proc/self"))) return List.of();
        byte[] entry = ("MEMWALL_JOB_ID=" + jobId).getBytes(StandardCharsets.US_ASCII);
        long self = ProcessHandle.current().pid();
        List<ProcessHandle> found = new ArrayList<>();
        ProcessHandle.allProcesses().filter(h -> h.pid() != self).forEach(h -> {
            byte[] env;
            try {
                env = Files.readAllBytes(Path.of("/proc", String.valueOf(h.pid()), "environ"));
            } catch (IOException | SecurityException e) {
                return; // gone, or another user's
            }
            for (int start = 0; start < env.length; ) {
                int end = start;
                while (end < env.length && env[end] != 0) end++;
                if (Arrays.equals(env, start, end, entry, 0, entry.length)) {
                    found.add(h);
                    return;
                }
                start = end + 1;
            }
        });
        return found;
    }

    private void rememberDescendants() {
        List<Worker> live;
        synchronized (workers) {
            live = workers.stream().filter(w -> w.process.isAlive()).toList();
        }
        for (Worker w : live) w.process.descendants().forEach(descendants::add);
    }

    private static void awaitExit(List<ProcessHandle> handles, Duration limit) {
        long deadline = System.nanoTime() + limit.toNanos();
        for (ProcessHandle h : handles) {
            CompletableFuture<ProcessHandle> exit = h.onExit();
            try {
                exit.get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
            } catch (TimeoutException | ExecutionException e) {
                // still alive: the caller escalates or reports it
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    /** The output threads end when the workers' pipes close; a pipe held open by a surviving process is not waited for. */
    private void joinPumps() throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        for (Worker w : workers) {
            for (Thread t : new Thread[]{w.outThread, w.errThread}) {
                t.join(Math.max(1, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime())));
            }
        }
    }

    private static Thread daemon(Runnable r, String name) {
        Thread t = new Thread(r, name);
        t.setDaemon(true);
        t.start();
        return t;
    }
}
