package dev.memwall.cli;

import dev.memwall.autograd.OpStats;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What {@code memwall profile --generate} prints: the ops of text generation in two phases, {@code prefill} (the whole
 * prompt in one pass, GEMMs with one row per prompt token) and {@code decode} (one token per pass through the KV cache,
 * matrix-vector products), each op with the fields of {@link ProfileReport.Op} per generation, and per phase the
 * tokens it processed, its wall time, ms per token and tokens/s.
 *
 * <p>JSON: {@code {"roofs": {"gflops", "gbps"}, "ops": [{"op", "phase", "calls", "ms", "flops", "bytes", "intensity",
 * "gflops", "gbps"}…], "phases": {"prefill": {…}, "decode": {…}}, "generation": {"prompt_tokens", "tokens", "runs"}}};
 * each phase object has {@code tokens, ms, ms_per_token, tokens_per_s, flops, bytes, intensity, gflops, gbps}. Op and
 * phase figures are per generation (the mean of {@code runs} profiled generations).
 */
record GenerationReport(Roofs roofs, List<ProfileReport.Op> ops, List<PhaseTotal> phases, int promptTokens, int tokens, int runs) {
    /** One phase per generation: the tokens it pushed through the model, the wall time of its calls, its ops' sums. */
    record PhaseTotal(String name, int tokens, double ms, double flops, double bytes) {
        double msPerToken() {
            return ms / tokens;
        }

        double tokensPerS() {
            return tokens / ms * 1e3;
        }

        Map<String, Object> toJson() {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("tokens", tokens);
            m.put("ms", ms);
            m.put("ms_per_token", msPerToken());
            m.put("tokens_per_s", tokensPerS());
            m.put("flops", flops);
            m.put("bytes", bytes);
            m.put("intensity", bytes > 0 ? flops / bytes : null);
            m.put("gflops", flops / ms / 1e6);
            m.put("gbps", bytes / ms / 1e6);
            return m;
        }
    }

    /** Ops of one phase from its OpStats rows over {@code runs} generations, per generation, largest time first. */
    static List<ProfileReport.Op> ops(String phase, List<OpStats.Row> rows, int runs) {
        List<ProfileReport.Op> ops = new ArrayList<>();
        for (OpStats.Row r : rows) {
            ops.add(new ProfileReport.Op(r.op(), phase, (double) r.calls() / runs, r.nanos() / 1e6 / runs, r.flops() / runs,
                    r.bytes() / runs));
        }
        ops.sort(Comparator.comparingDouble(ProfileReport.Op::ms).reversed());
        return ops;
    }

    /** The phase's total from its ops' FLOPs and bytes and its measured wall time per generation. */
    static PhaseTotal total(String phase, int tokens, double ms, List<ProfileReport.Op> ops) {
        return new PhaseTotal(phase, tokens, ms, ops.stream().mapToDouble(ProfileReport.Op::flops).sum(),
                ops.stream().mapToDouble(ProfileReport.Op::bytes).sum());
    }

    Map<String, Object> toJson() {
        Map<String, Object> m = new LinkedHashMap<>();
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("gflops", roofs.gflops());
        r.put("gbps", roofs.gbps());
        m.put("roofs", r);
        List<Map<String, Object>> list = new ArrayList<>();
        for (ProfileReport.Op o : ops) list.add(ProfileReport.opJson(o));
        m.put("ops", list);
        Map<String, Object> ph = new LinkedHashMap<>();
        for (PhaseTotal p : phases) ph.put(p.name(), p.toJson());
        m.put("phases", ph);
        Map<String, Object> g = new LinkedHashMap<>();
        g.put("prompt_tokens", promptTokens);
        g.put("tokens", tokens);
        g.put("runs", runs);
        m.put("generation", g);
        return m;
    }

    /** One row per op and phase (its share of its phase's time), then each phase's totals and the roofs. */
    String table() {
        StringBuilder b = new StringBuilder();
        String head = "%-16s %-8s %7s %9s %9s %9s %8s %9s %8s %6s%n";
        String row = "%-16s %-8s %7.0f %9.3f %9.4f %9.2f %8s %9s %8s %5.1f%%%n";
        b.append(String.format(head, "op", "phase", "calls", "ms", "GFLOP", "MB", "FLOP/B", "GFLOP/s", "GB/s", "phase"));
        for (PhaseTotal p : phases) {
            for (ProfileReport.Op o : ops) {
                if (!o.phase().equals(p.name())) continue;
                b.append(String.format(row, o.op(), o.phase(), o.calls(), o.ms(), o.flops() / 1e9, o.bytes() / 1e6,
                        ProfileReport.fmt(o.intensity(), "%.2f"), ProfileReport.fmt(o.gflops(), "%.1f"),
                        ProfileReport.fmt(o.gbps(), "%.1f"), 100 * o.ms() / p.ms()));
            }
        }
        for (PhaseTotal p : phases) {
            b.append(String.format("%s: %d tokens in %.2f ms, %.3f ms/token, %.0f tokens/s; %.3f GFLOP, %.1f MB moved (compulsory), "
                            + "%.2f FLOP/B, %.1f GFLOP/s, %.1f GB/s%n", p.name(), p.tokens(), p.ms(), p.msPerToken(), p.tokensPerS(),
                    p.flops() / 1e9, p.bytes() / 1e6, p.flops() / p.bytes(), p.flops() / p.ms() / 1e6, p.bytes() / p.ms() / 1e6));
        }
        b.append(String.format("per generation (a %d-token prompt, %d decoded tokens), mean of %d profiled generations%n",
                promptTokens, tokens, runs));
        b.append(String.format("roofs: sgemm peak %.1f GFLOP/s, triad %.1f GB/s, ridge at %.1f FLOP/B", roofs.gflops(), roofs.gbps(),
                roofs.ridge()));
        return b.toString();
    }
}
