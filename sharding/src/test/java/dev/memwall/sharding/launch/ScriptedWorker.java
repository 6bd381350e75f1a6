package dev.memwall.sharding.launch;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.concurrent.TimeUnit;

/**
 * A worker for the launcher's tests: what it does depends on its arguments and on RANK.
 * <ul>
 * <li>{@code lines N}: N stdout and N stderr lines, each written in several pieces with flushes between them;</li>
 * <li>{@code env}: one JSON line with the environment contract as the worker sees it;</li>
 * <li>{@code exit R CODE}: rank R exits with CODE once every rank has started, the others wait for a minute;</li>
 * <li>{@code kill9 R}: rank R sends itself SIGKILL, the others wait for a minute;</li>
 * <li>{@code child R CODE}: every rank starts {@code sleep 300} and prints its pid, then rank R exits with CODE;</li>
 * <li>{@code daemon}: every rank starts {@code sleep 300} the way daemons do (through a shell that exits at once, so
 * the sleep is never the worker's descendant for long), prints its pid and exits 0;</li>
 * <li>{@code ignore-term R CODE}: ranks other than R ignore SIGTERM, then rank R exits with CODE.</li>
 * </ul>
 * "Once every rank has started" is a file per rank in MEMWALL_RUN_DIR, so a failure never races a slow JVM start.
 */
public final class ScriptedWorker {
    public static void main(String[] args) throws Exception {
        LauncherWatch.install();
        int rank = Integer.parseInt(System.getenv("RANK"));
        int world = Integer.parseInt(System.getenv("WORLD_SIZE"));
        Path run = Path.of(System.getenv("MEMWALL_RUN_DIR"));
        switch (args[0]) {
            case "lines" -> {
                int n = Integer.parseInt(args[1]);
                for (int i = 0; i < n; i++) {
                    for (String piece : new String[]{"line ", i + " ", "of rank ", rank + " ", "ends here"}) {
                        System.out.print(piece);
                        System.out.flush();
                        System.err.print(piece);
                        System.err.flush();
                        Thread.yield();
                    }
                    System.out.println();
                    System.err.println();
                }
            }
            case "env" -> System.out.printf("{\"rank\": \"%s\", \"local_rank\": \"%s\", \"world_size\": \"%s\", \"job_id\": \"%s\", "
                            + "\"run_dir\": \"%s\", \"run_dir_mode\": \"%s\", \"root_mode\": \"%s\", \"threads\": \"%s\", \"max_heap\": %d}%n",
                    System.getenv("RANK"), System.getenv("LOCAL_RANK"), System.getenv("WORLD_SIZE"), System.getenv("MEMWALL_JOB_ID"),
                    run, PosixFilePermissions.toString(Files.getPosixFilePermissions(run)),
                    PosixFilePermissions.toString(Files.getPosixFilePermissions(run.getParent())),
                    System.getProperty("memwall.threads"), Runtime.getRuntime().maxMemory());
            case "exit" -> {
                awaitAll(run, rank, world);
                if (rank == Integer.parseInt(args[1])) System.exit(Integer.parseInt(args[2]));
                Thread.sleep(60_000);
            }
            case "kill9" -> {
                awaitAll(run, rank, world);
                if (rank == Integer.parseInt(args[1])) {
                    new ProcessBuilder("kill", "-9", String.valueOf(ProcessHandle.current().pid())).inheritIO().start().waitFor();
                }
                Thread.sleep(60_000);
            }
            case "child" -> {
                Process sleep = new ProcessBuilder("sleep", "300").start();
                System.out.println("child " + sleep.pid());
                awaitAll(run, rank, world);
                if (rank == Integer.parseInt(args[1])) System.exit(Integer.parseInt(args[2]));
                Thread.sleep(60_000);
            }
            case "daemon" -> {
                Process sh = new ProcessBuilder("sh", "-c", "sleep 300 </dev/null >/dev/null 2>&1 & echo $!").start();
                String pid = new String(sh.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.US_ASCII).trim();
                sh.waitFor();
                System.out.println("child " + pid);
            }
            case "ignore-term" -> {
                if (rank != Integer.parseInt(args[1])) {
                    sun.misc.Signal.handle(new sun.misc.Signal("TERM"), signal -> System.out.println("ignoring SIGTERM"));
                }
                awaitAll(run, rank, world);
                if (rank == Integer.parseInt(args[1])) System.exit(Integer.parseInt(args[2]));
                Thread.sleep(60_000);
            }
            default -> throw new IllegalArgumentException("unknown action " + args[0]);
        }
    }

    /** Marks this rank as started and waits (at most a minute) until every rank has. */
    private static void awaitAll(Path run, int rank, int world) throws Exception {
        Files.createFile(run.resolve("started-" + rank));
        long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(1);
        for (int r = 0; r < world; r++) {
            while (!Files.exists(run.resolve("started-" + r))) {
                if (System.nanoTime() > deadline) throw new IllegalStateException("rank " + r + " never started");
                Thread.sleep(20);
            }
        }
        System.out.println("all started, pid " + ProcessHandle.current().pid());
    }
}
