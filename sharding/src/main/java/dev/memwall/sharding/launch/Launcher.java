package dev.memwall.sharding.launch;

import java.io.IOException;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Starts N worker JVMs on this machine and supervises them, torchrun-like. Each worker runs {@code mainClass} with
 * the same java binary and class path as this process ({@link #currentClassPath()}), this JVM's options (less debugger and agent options), the heap
 * limit if one is given, and {@code -Dmemwall.threads=K} kernel threads (by default the cores divided among the
 * workers), with this environment contract:
 * <ul>
 * <li>{@code RANK}, {@code LOCAL_RANK} (the same on one machine), {@code WORLD_SIZE};</li>
 * <li>{@code MEMWALL_JOB_ID}: a random 32-hex-digit token, the same for every worker of the job;</li>
 * <li>{@code MEMWALL_RUN_DIR}: an owner-only directory for the job's files ({@link RunDirectory}), removed when the
 * launch ends however it ends;</li>
 * <li>{@code MEMWALL_LAUNCHER_PID}: this process, which a worker watches ({@link LauncherWatch}) so that it exits if the
 * launcher is killed without stopping it.</li>
 * </ul>
 * Each line a worker prints is copied to this process's stdout or stderr prefixed with {@code [rank k] }. When a
 * worker fails (exits non-zero or is killed), the others are stopped (SIGTERM, then SIGKILL after the grace period,
 * their child processes too) and the launch ends with the failed worker's status. A shutdown hook does the same when
 * the launcher itself is stopped by SIGTERM or SIGINT. Usage:
 * <pre>{@code
 * LaunchResult r = Launcher.builder("dev.memwall.cli.Main", "train", "--steps", "100").nproc(2).heap("2g").build().run();
 * }</pre>
 */
public final class Launcher {
    public static final Duration DEFAULT_GRACE = Duration.ofSeconds(5);

    private final int nproc;
    private final String mainClass;
    private final List<String> args;
    private final Long heapBytes;
    private final Duration grace;
    private final int kernelThreads;
    private final boolean collectJson;
    private final List<String> javaOptions;
    private final String classPath;
    private final Path runRoot;
    private final PrintStream out, err;

    private Launcher(Builder b) {
        nproc = b.nproc;
        mainClass = b.mainClass;
        args = List.copyOf(b.args);
        heapBytes = b.heapBytes;
        grace = b.grace;
        kernelThreads = b.kernelThreads > 0 ? b.kernelThreads : defaultKernelThreads(nproc);
        collectJson = b.collectJson;
        javaOptions = List.copyOf(b.javaOptions != null ? b.javaOptions : inheritedJavaOptions());
        classPath = b.classPath != null ? b.classPath : currentClassPath();
        runRoot = b.runRoot != null ? b.runRoot : RunDirectory.defaultRoot();
        out = b.out != null ? b.out : System.out;
        err = b.err != null ? b.err : System.err;
    }

    /** A launcher of workers running {@code mainClass} with {@code args}; one worker unless {@link Builder#nproc} says more. */
    public static Builder builder(String mainClass, String... args) {
        return new Builder(mainClass, List.of(args));
    }

    /** As {@link #builder(String, String...)}. */
    public static Builder builder(String mainClass, List<String> args) {
        return new Builder(mainClass, args);
    }

    /**
     * Kernel threads per worker by default: {@code -Dmemwall.threads} when this JVM was given it (the user's choice
     * for every worker), otherwise the cores divided among the workers, at least one.
     */
    public static int defaultKernelThreads(int nproc) {
        Integer set = Integer.getInteger("memwall.threads");
        if (set != null && set > 0) return set;
        return kernelThreads(Runtime.getRuntime().availableProcessors(), nproc);
    }

    /**
     * The one rule for dividing a machine among workers: {@code cores / nproc} kernel threads each, at least one. The
     * launcher passes it to its workers; a worker started some other way with WORLD_SIZE set applies it itself.
     */
    public static int kernelThreads(int cores, int nproc) {
        return Math.max(1, cores / Math.max(1, nproc));
    }

    /**
     * This JVM's options without those that cannot be shared by several JVMs or that the launcher sets itself:
     * debugger and agent options (a second JVM on the same debug port fails to start) and {@code -Dmemwall.threads}.
     */
    public static List<String> inheritedJavaOptions() {
        List<String> kept = new ArrayList<>();
        for (String o : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
            if (o.startsWith("-agentlib:") || o.startsWith("-agentpath:") || o.startsWith("-javaagent:")
                    || o.startsWith("-Xrunjdwp") || o.equals("-Xdebug") || o.startsWith("-Dmemwall.threads=")) continue;
            kept.add(o);
        }
        return kept;
    }

    /**
     * The class path this code runs from: the URLs of the thread's context class loader and its parents when they are
     * URL class loaders (as under {@code mvn exec:java}, where java.class.path is Maven's own), then java.class.path.
     */
    public static String currentClassPath() {
        java.util.LinkedHashSet<String> entries = new java.util.LinkedHashSet<>();
        for (ClassLoader l = Thread.currentThread().getContextClassLoader(); l != null; l = l.getParent()) {
            if (!(l instanceof java.net.URLClassLoader u)) continue;
            for (java.net.URL url : u.getURLs()) {
                try {
                    if (url.getProtocol().equals("file")) entries.add(Path.of(url.toURI()).toString());
                } catch (java.net.URISyntaxException | IllegalArgumentException e) {
                    // not a plain file: a worker could not use it either
                }
            }
        }
        for (String e : System.getProperty("java.class.path").split(java.io.File.pathSeparator)) if (!e.isEmpty()) entries.add(e);
        return String.join(java.io.File.pathSeparator, entries);
    }

    /** The command line of every worker (the same for all; only the environment differs). */
    public List<String> command() {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        for (String o : javaOptions) {
            if (heapBytes != null && (o.startsWith("-Xmx") || o.startsWith("-XX:MaxHeapSize="))) continue;
            cmd.add(o);
        }
        if (heapBytes != null) cmd.add(HeapSize.xmx(heapBytes));
        cmd.add("-Dmemwall.threads=" + kernelThreads);
        cmd.add("-cp");
        cmd.add(classPath);
        cmd.add(mainClass);
        cmd.addAll(args);
        return cmd;
    }

    /** The environment variables set for {@code rank} on top of the launcher's own. */
    static Map<String, String> environment(int rank, int worldSize, RunDirectory dir) {
        return Map.of("RANK", String.valueOf(rank), "LOCAL_RANK", String.valueOf(rank), "WORLD_SIZE", String.valueOf(worldSize),
                "MEMWALL_JOB_ID", dir.jobId(), "MEMWALL_RUN_DIR", dir.path().toString(),
                LauncherWatch.LAUNCHER_PID, String.valueOf(ProcessHandle.current().pid()));
    }

    public int nproc() {
        return nproc;
    }

    public int kernelThreads() {
        return kernelThreads;
    }

    /**
     * Runs the job to its end: starts the workers, copies their output, and returns once every worker has exited,
     * no child process of theirs is left and the run directory is removed.
     */
    public LaunchResult run() throws IOException, InterruptedException {
        err.printf("memwall launch: %d worker%s, %d kernel thread%s each%s%n", nproc, nproc == 1 ? "" : "s", kernelThreads,
                kernelThreads == 1 ? "" : "s", heapBytes == null ? "" : ", " + HeapSize.xmx(heapBytes));
        err.flush();
        RunDirectory dir = RunDirectory.create(runRoot);
        WorkerGroup group = new WorkerGroup(nproc, grace, collectJson, out, err, dir);
        Thread hook = new Thread(group::stopFromSignal, "memwall-launch-shutdown");
        Runtime.getRuntime().addShutdownHook(hook);
        try {
            group.start(command());
            return group.monitor();
        } finally {
            group.cleanUp();
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException e) {
                // the JVM is shutting down: the hook is running and cleans up the same way
            }
        }
    }

    /** Settings of a launch. */
    public static final class Builder {
        private final String mainClass;
        private final List<String> args;
        private int nproc = 1;
        private Long heapBytes;
        private Duration grace = DEFAULT_GRACE;
        private int kernelThreads;
        private boolean collectJson;
        private List<String> javaOptions;
        private String classPath;
        private Path runRoot;
        private PrintStream out, err;

        private Builder(String mainClass, List<String> args) {
            this.mainClass = Objects.requireNonNull(mainClass, "mainClass");
            if (mainClass.isBlank()) throw new IllegalArgumentException("main class: must not be empty");
            this.args = List.copyOf(args);
        }

        /** The number of workers, at least 1. */
        public Builder nproc(int n) {
            if (n < 1) throw new IllegalArgumentException("number of workers: must be at least 1, got " + n);
            nproc = n;
            return this;
        }

        /** Each worker's heap limit ({@code -Xmx}), like 512m or 2g; by default this JVM's options decide. */
        public Builder heap(String size) {
            heapBytes = size == null ? null : HeapSize.parse(size);
            return this;
        }

        /** How long stopped workers get between SIGTERM and SIGKILL ({@link #DEFAULT_GRACE} by default). */
        public Builder grace(Duration d) {
            if (d == null || d.isNegative()) throw new IllegalArgumentException("grace period: must be zero or more, got " + d);
            grace = d;
            return this;
        }

        /** Kernel threads per worker ({@code -Dmemwall.threads}); by default {@link #defaultKernelThreads}. */
        public Builder kernelThreads(int n) {
            if (n < 1) throw new IllegalArgumentException("kernel threads: must be at least 1, got " + n);
            kernelThreads = n;
            return this;
        }

        /**
         * Keep each worker's stdout lines that are JSON objects instead of copying them (the last becomes the rank's
         * {@link LaunchResult.Rank#summary}); its other stdout lines go to stderr, so that stdout is left for one
         * combined object.
         */
        public Builder collectJson(boolean on) {
            collectJson = on;
            return this;
        }

        /** The workers' JVM options instead of {@link #inheritedJavaOptions()}. */
        public Builder javaOptions(List<String> options) {
            javaOptions = List.copyOf(options);
            return this;
        }

        /** The workers' class path instead of {@link #currentClassPath()}. */
        public Builder classPath(String path) {
            classPath = Objects.requireNonNull(path);
            return this;
        }

        /** Where run directories are made instead of {@link RunDirectory#defaultRoot()}. */
        public Builder runRoot(Path root) {
            runRoot = root;
            return this;
        }

        /** Where the workers' prefixed lines and the launcher's messages go instead of System.out and System.err. */
        public Builder output(PrintStream out, PrintStream err) {
            this.out = Objects.requireNonNull(out);
            this.err = Objects.requireNonNull(err);
            return this;
        }

        public Launcher build() {
            return new Launcher(this);
        }
    }
}
