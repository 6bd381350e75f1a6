package dev.memwall.samediff;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.factory.Nd4j;

import java.io.IOException;
import java.io.InputStream;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Properties;

import static org.assertj.core.api.Assertions.assertThat;

/** This module runs on ND4J's JavaCPP and OpenBLAS; memwall's (1.5.13) are neither on the class path nor loaded. */
class ClassPathTest {
    @Test
    void onlyNd4jsJavacppAndOpenblasAreOnTheClassPath() throws IOException {
        // each artifact's Java jar and its linux-x86_64 natives jar carry the same Maven metadata
        assertThat(versions("org.bytedeco", "javacpp")).isNotEmpty().containsOnly("1.5.7");
        assertThat(versions("org.bytedeco", "openblas")).isNotEmpty().containsOnly("0.3.19-1.5.7");
    }

    @Test
    void theOpenblasLoadedIsNd4jsOwn() throws IOException {
        assertThat(Nd4j.ones(8, 8).mmul(Nd4j.ones(8, 8)).getFloat(0, 0)).isEqualTo(8f); // loads the backend and its BLAS
        List<String> blas = new ArrayList<>();
        for (String line : Files.readAllLines(Paths.get("/proc/self/maps"))) {
            if (line.contains("libopenblas")) blas.add(line.substring(line.lastIndexOf(' ') + 1));
        }
        assertThat(blas).isNotEmpty().allMatch(path -> path.contains("openblas-0.3.19-1.5.7"), "ND4J's OpenBLAS jar")
                .noneMatch(path -> path.contains("1.5.13"));
    }

    /** The versions of every copy of groupId:artifactId on the class path, from the Maven metadata in the jars. */
    private static List<String> versions(String group, String artifact) throws IOException {
        List<String> found = new ArrayList<>();
        String resource = "META-INF/maven/" + group + "/" + artifact + "/pom.properties";
        for (URL url : Collections.list(ClassPathTest.class.getClassLoader().getResources(resource))) {
            try (InputStream in = url.openStream()) {
                Properties p = new Properties();
                p.load(in);
                found.add(p.getProperty("version"));
            }
        }
        return found;
    }
}
