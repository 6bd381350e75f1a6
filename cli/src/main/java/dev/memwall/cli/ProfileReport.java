package dev.memwall.cli;

import dev.memwall.autograd.OpStats;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * What {@code memwall profile} prints: per op type and phase, per step, the calls, time, FLOPs and compulsory bytes
 * (see {@link OpStats}), their ratio and the achieved rates; the machine's roofs; the step's totals.
 */
record ProfileReport(Roofs roofs, List<Op> ops, double stepMs, int steps) {
    /**
     * The ops whose work is GEMMs: linear (plus its bias column sum in backward), matmul, and the fused causal
     * attention, whose two GEMMs per head come with the causal softmax between them (about 1% of its FLOPs) in one op.
     */
    static final Set<String> GEMM_OPS = Set.of("linear", "matmul", "causal_attention", "causal_attention_probs");

    /** One op type in one phase, averaged per step. */
    record Op(String op, String phase, double calls, double ms, double flops, double bytes) {
        Double intensity() {
            return bytes > 0 ? flops / bytes : null;
        }

        Double gflops() {
            return ms > 0 ? flops / ms / 1e6 : null;
        }

        Double gbps() {
            return ms > 0 ? bytes / ms / 1e6 : null;
        }

        boolean gemm() {
            return GEMM_OPS.contains(op);
        }
    }

    /** Rows of {@code steps} steps' counts, per step, largest time first. */
    static ProfileReport of(Roofs roofs, List<OpStats.Row> rows, double totalStepMs, int steps) {
        List<Op> ops = new ArrayList<>();
        for (OpStats.Row r : rows) {
            ops.add(new Op(r.op(), r.phase().name().toLowerCase(), (double) r.calls() / steps, r.nanos() / 1e6 / steps,
                    r.flops() / steps, r.bytes() / steps));
        }
        ops.sort(Comparator.comparingDouble(Op::ms).reversed());
        return new ProfileReport(roofs, ops, totalStepMs / steps, steps);
    }

    double stepFlops() {
        return ops.stream().mapToDouble(Op::flops).sum();
    }

    double stepBytes() {
        return ops.stream().mapToDouble(Op::bytes).sum();
    }

    double countedMs() {
        return ops.stream().mapToDouble(Op::ms).sum();
    }

    /** Share of the step's wall time spent in GEMM ops ({@link #GEMM_OPS}, every phase). */
    double gemmFraction() {
        return ops.stream().filter(Op::gemm).mapToDouble(Op::ms).sum() / stepMs;
    }

    /** The {@code --json} contract: roofs, ops, step. */
    Map<String, Object> toJson() {
        Map<String, Object> m = new LinkedHashMap<>();
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("gflops", roofs.gflops());
        r.put("gbps", roofs.gbps());
        m.put("roofs", r);
        List<Map<String, Object>> list = new ArrayList<>();
        for (Op o : ops) list.add(opJson(o));
        m.put("ops", list);
        Map<String, Object> s = new LinkedHashMap<>();
        s.put("ms", stepMs);
        s.put("flops", stepFlops());
        s.put("bytes", stepBytes());
        s.put("gemm_fraction", gemmFraction());
        m.put("step", s);
        return m;
    }

    /** One op's object in the {@code --json} contract. */
    static Map<String, Object> opJson(Op o) {
        Map<String, Object> e = new LinkedHashMap<>();
        e.put("op", o.op());
        e.put("phase", o.phase());
        e.put("calls", o.calls() == Math.rint(o.calls()) ? (Object) (long) o.calls() : o.calls()); // whole when every step calls alike
        e.put("ms", o.ms());
        e.put("flops", o.flops());
        e.put("bytes", o.bytes());
        e.put("intensity", o.intensity());
        e.put("gflops", o.gflops());
        e.put("gbps", o.gbps());
        return e;
    }

    /** The human-readable table, one row per op and phase, then the step's totals and the roofs. */
    String table() {
        StringBuilder b = new StringBuilder();
        String head = "%-16s %-9s %7s %9s %9s %9s %8s %9s %8s %6s%n";
        String row = "%-16s %-9s %7.0f %9.3f %9.4f %9.2f %8s %9s %8s %5.1f%%%n";
        b.append(String.format(head, "op", "phase", "calls", "ms", "GFLOP", "MB", "FLOP/B", "GFLOP/s", "GB/s", "step"));
        for (Op o : ops) {
            b.append(String.format(row, o.op(), o.phase(), o.calls(), o.ms(), o.flops() / 1e9, o.bytes() / 1e6,
                    fmt(o.intensity(), "%.2f"), fmt(o.gflops(), "%.1f"), fmt(o.gbps(), "%.1f"), 100 * o.ms() / stepMs));
        }
        double other = stepMs - countedMs();
        b.append(String.format("%-16s %-9s %7s %9.3f %9s %9s %8s %9s %8s %5.1f%%%n", "(not in an op)", "", "", other, "", "", "", "",
                "", 100 * other / stepMs));
        b.append(String.format("step: %.2f ms, %.3f GFLOP, %.1f MB moved (compulsory), %.2f FLOP/B, %.1f GFLOP/s, %.1f GB/s, "
                        + "GEMMs %.1f%% of the time; mean of %d profiled steps%n", stepMs, stepFlops() / 1e9, stepBytes() / 1e6,
                stepFlops() / stepBytes(), stepFlops() / stepMs / 1e6, stepBytes() / stepMs / 1e6, 100 * gemmFraction(), steps));
        b.append(String.format("roofs: sgemm peak %.1f GFLOP/s, triad %.1f GB/s, ridge at %.1f FLOP/B", roofs.gflops(), roofs.gbps(),
                roofs.ridge()));
        return b.toString();
    }

    static String fmt(Double v, String f) {
        return v == null ? "-" : String.format(f, v);
    }
}
