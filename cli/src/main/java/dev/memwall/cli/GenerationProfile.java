package dev.memwall.cli;

import dev.memwall.autograd.OpStats;
import dev.memwall.autograd.Scope;
import dev.memwall.autograd.Tensor;
import dev.memwall.generate.GptDecoder;
import dev.memwall.generate.Sampler;
import dev.memwall.nn.Gpt;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/**
 * The generation workload of {@code memwall profile --generate}: per generation a {@link GptDecoder#prefill} of the
 * prompt, then {@code tokens} {@link GptDecoder#decode} steps, each fed the greedy choice of the logits before it (the
 * choice is outside both phases; greedy, so every run decodes the same tokens). Each phase's calls are counted on
 * their own ({@link OpStats} is read and reset after each), which is what labels a row prefill or decode; a phase's
 * time is the wall time of its calls.
 */
final class GenerationProfile {
    static final String PREFILL = "prefill", DECODE = "decode";

    private final Map<String, OpStats.Row> prefillRows = new LinkedHashMap<>(), decodeRows = new LinkedHashMap<>();
    private double prefillNanos, decodeNanos;

    private GenerationProfile() {
    }

    /**
     * {@code warmup} unprofiled generations, then {@code runs} profiled ones, then the roofs (after, so the JIT is warm).
     * The prompt and the decoded tokens must fit the model's context: the profile measures decoding through the KV cache,
     * and {@code generate} slides the window beyond it (a full prefill per token).
     */
    static GenerationReport run(Gpt model, int[] prompt, int tokens, int warmup, int runs) {
        int ctx = model.config().context();
        if (prompt.length < 1 || tokens < 1 || prompt.length + tokens > ctx) {
            throw new IllegalArgumentException("a " + prompt.length + "-token prompt and " + tokens + " decoded tokens need "
                    + (prompt.length + tokens) + " positions; the model's context (and KV cache) holds " + ctx);
        }
        GenerationProfile p = new GenerationProfile();
        boolean was = OpStats.enabled();
        try (GptDecoder decoder = new GptDecoder(model)) {
            for (int i = 0; i < warmup; i++) p.generation(decoder, prompt, tokens, false);
            OpStats.reset();
            for (int i = 0; i < runs; i++) p.generation(decoder, prompt, tokens, true);
        } finally {
            OpStats.enable(was);
            OpStats.reset();
        }
        List<ProfileReport.Op> pre = GenerationReport.ops(PREFILL, new ArrayList<>(p.prefillRows.values()), runs);
        List<ProfileReport.Op> dec = GenerationReport.ops(DECODE, new ArrayList<>(p.decodeRows.values()), runs);
        List<ProfileReport.Op> ops = new ArrayList<>(pre);
        ops.addAll(dec);
        List<GenerationReport.PhaseTotal> phases = List.of(GenerationReport.total(PREFILL, prompt.length, p.prefillNanos / 1e6 / runs, pre),
                GenerationReport.total(DECODE, tokens, p.decodeNanos / 1e6 / runs, dec));
        return new GenerationReport(Roofs.measure(), ops, phases, prompt.length, tokens, runs);
    }

    /** One generation; when {@code counted}, each phase's rows and wall time are added to this profile's. */
    private void generation(GptDecoder decoder, int[] prompt, int tokens, boolean counted) {
        try (Scope scope = Scope.open()) {
            Tensor logits = phase(() -> decoder.prefill(prompt), counted, true);
            for (int i = 0; i < tokens; i++) {
                int v = logits.size(logits.dim() - 1);
                int next = Sampler.argmax(logits.data(), logits.offset() + (logits.size(0) - 1) * v, v);
                logits.release();
                logits = phase(() -> decoder.decode(next), counted, false);
            }
            logits.release();
        }
    }

    /** Runs one phase's call, counted on its own when {@code counted}. */
    private Tensor phase(Supplier<Tensor> call, boolean counted, boolean prefill) {
        if (!counted) return call.get();
        OpStats.enable(true);
        long t0 = System.nanoTime();
        Tensor out = call.get();
        long nanos = System.nanoTime() - t0;
        OpStats.enable(false);
        if (prefill) prefillNanos += nanos;
        else decodeNanos += nanos;
        Map<String, OpStats.Row> into = prefill ? prefillRows : decodeRows;
        for (OpStats.Row r : OpStats.snapshot()) {
            into.merge(r.op(), r, (a, b) -> new OpStats.Row(a.op(), a.phase(), a.calls() + b.calls(), a.nanos() + b.nanos(),
                    a.flops() + b.flops(), a.bytes() + b.bytes()));
        }
        OpStats.reset();
        return out;
    }
}
