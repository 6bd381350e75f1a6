package dev.memwall.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The {@code memwall} launcher at the repository root appends MEMWALL_JAVA_OPTS to its JVM defaults instead of
 * replacing them. Run on a copy of the script beside an up-to-date jar (so nothing is built) with a {@code java} on
 * the PATH that prints its arguments.
 */
class LauncherScriptTest {
    @TempDir
    Path dir;

    private List<String> javaArguments(String javaOpts) throws IOException, InterruptedException {
        Path script = Path.of(System.getProperty("user.dir")).getParent().resolve("memwall");
        assertThat(script).as("the launcher at the repository root").isRegularFile();
        Path root = Files.createDirectories(dir.resolve("repo")), bin = Files.createDirectories(dir.resolve("bin"));
        Files.copy(script, root.resolve("memwall"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        Files.createDirectories(root.resolve("cli/target"));
        Files.write(root.resolve("cli/target/memwall.jar"), new byte[0]);
        Path java = Files.writeString(bin.resolve("java"), "#!/bin/sh\nprintf '%s\\n' \"$@\"\n");
        Files.setPosixFilePermissions(java, PosixFilePermissions.fromString("rwxr-xr-x"));
        ProcessBuilder pb = new ProcessBuilder("bash", root.resolve("memwall").toString(), "train", "--steps", "1");
        Map<String, String> env = pb.environment();
        env.put("PATH", bin + ":" + env.get("PATH"));
        if (javaOpts == null) env.remove("MEMWALL_JAVA_OPTS");
        else env.put("MEMWALL_JAVA_OPTS", javaOpts);
        Process p = pb.redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor()).as(out).isZero();
        return out.lines().toList();
    }

    @Test
    void javaOptionsAreAppendedToTheDefaults() throws Exception {
        String jar = dir.resolve("repo/cli/target/memwall.jar").toString();
        // no Vector API module by default: the kernels run their scalar loops (kernels/Vectorization)
        assertThat(javaArguments(null)).containsExactly("-Xmx8g", "-XX:+UseParallelGC",
                "-jar", jar, "train", "--steps", "1");
        // A later -Xmx wins in HotSpot, so MEMWALL_JAVA_OPTS=-Xmx2g lowers the limit and keeps the collector.
        assertThat(javaArguments("-Xmx2g -Dmemwall.test=1"))
                .containsExactly("-Xmx8g", "-XX:+UseParallelGC", "-Xmx2g",
                        "-Dmemwall.test=1", "-jar", jar, "train", "--steps", "1");
        // The JVM refuses two collectors: one named in MEMWALL_JAVA_OPTS replaces the default.
        assertThat(javaArguments("-XX:+UseSerialGC")).containsExactly("-Xmx8g",
                "-XX:+UseSerialGC", "-jar", jar, "train", "--steps", "1");
    }
}
