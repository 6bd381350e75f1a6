package dev.memwall.sharding.launch;

import java.nio.file.Path;
import java.util.Arrays;

/**
 * A launcher in its own JVM, so that a test can stop it with a signal: {@code LaunchingMain RUN_ROOT NPROC ARGS...}
 * launches NPROC {@link ScriptedWorker}s with ARGS and exits with the launch's exit code.
 */
public final class LaunchingMain {
    public static void main(String[] args) throws Exception {
        LaunchResult r = Launcher.builder(ScriptedWorker.class.getName(), Arrays.copyOfRange(args, 2, args.length))
                .nproc(Integer.parseInt(args[1])).runRoot(Path.of(args[0])).build().run();
        System.exit(r.exitCode());
    }
}
