package dev.memwall.cli;

import dev.memwall.autograd.Tensor;
import dev.memwall.io.SafeTensors;
import dev.memwall.nn.Gpt;
import dev.memwall.nn.GptConfig;
import dev.memwall.rng.Rng;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import java.util.Set;

/**
 * Weight and data files for eval tests. Values are drawn by the test (java.util.Random), not by memwall's
 * initialisation, and every one of them is random — LayerNorm scales and shifts and biases included, which memwall
 * starts at 1 and 0 — so that every parameter changes the loss noticeably.
 */
final class TinyGptFiles {
    private TinyGptFiles() {
    }

    /** Parameter values by name (float values, as stored in the file) with their shapes. */
    record Weights(Map<String, float[]> values, Map<String, int[]> shapes) {
    }

    /** A memwall Gpt of {@code c} whose parameters hold test-drawn values; also returns those values. */
    static Weights randomWeights(GptConfig c, long seed, Gpt model) {
        Random r = new Random(seed);
        Map<String, float[]> values = new LinkedHashMap<>();
        Map<String, int[]> shapes = new LinkedHashMap<>();
        for (Map.Entry<String, Tensor> e : model.namedParameters().entrySet()) {
            String name = e.getKey();
            int[] shape = e.getValue().shape();
            int n = e.getValue().numel();
            float[] v = new float[n];
            boolean ln = name.startsWith("lnf.") || name.matches("blocks\\.\\d+\\.ln[12]\\..*");
            for (int i = 0; i < n; i++) {
                double g = r.nextGaussian();
                double x;
                if (ln && name.endsWith(".weight")) x = 1 + 0.3 * g;
                else if (ln) x = 0.2 * g;
                else if (name.endsWith(".bias")) x = 0.1 * g;
                else if (name.equals("tok.weight") || name.equals("pos.weight")) x = 0.5 * g;
                else if (name.equals("head.weight")) x = 1.5 * g / Math.sqrt(shape[1]);
                else x = g / Math.sqrt(shape[1]); // Linear [out, in]
                v[i] = (float) x;
            }
            values.put(name, v);
            shapes.put(name, shape.clone());
            System.arraycopy(v, 0, e.getValue().data(), e.getValue().offset(), n);
        }
        return new Weights(values, shapes);
    }

    /** Writes a random GPT of {@code c} to {@code file} and returns its values. */
    static Weights writeRandomGpt(Path file, GptConfig c, long seed) throws IOException {
        return writeRandomGpt(file, c, seed, Set.of());
    }

    /** As {@link #writeRandomGpt(Path, GptConfig, long)}, leaving out the named tensors. */
    static Weights writeRandomGpt(Path file, GptConfig c, long seed, Set<String> omit) throws IOException {
        Gpt model = new Gpt(c, new Rng(seed));
        Weights w = randomWeights(c, seed, model);
        Map<String, Tensor> out = new LinkedHashMap<>(model.namedParameters());
        for (String name : omit) {
            if (out.remove(name) == null) throw new IllegalArgumentException("no parameter " + name);
        }
        SafeTensors.write(file, out, Map.of("format", "memwall-test"));
        return w;
    }

    /** {@code n} random bytes in [0, vocab). */
    static byte[] writeRandomBytes(Path file, int n, int vocab, long seed) throws IOException {
        Random r = new Random(seed);
        byte[] b = new byte[n];
        for (int i = 0; i < n; i++) b[i] = (byte) r.nextInt(vocab);
        Files.write(file, b);
        return b;
    }
}
