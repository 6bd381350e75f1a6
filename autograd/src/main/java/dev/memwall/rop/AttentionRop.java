package dev.memwall.rop;

import dev.memwall.autograd.DType;
import dev.memwall.autograd.Tensor;
import dev.memwall.kernels.AttentionKernel;
import dev.memwall.kernels.Gemm;
import dev.memwall.kernels.Parallel;
import dev.memwall.kernels.TemporaryScratch;

/**
 * The fused causal attention ({@code ops.FusedAttention}: qkv [B, T, 3D] → merged heads [B, T, D]) with tangents,
 * head by head as {@link AttentionKernel}. Per head, S = c·q·kᵀ (c = 1/√hd), P = causal softmax(S), O = P·v.
 * Forward: Ṡ = c·(q̇·kᵀ + q·k̇ᵀ), Ṗ = P∘(Ṡ − rowsum(P∘Ṡ)), Ȯ = Ṗ·v + P·v̇. Backward from (Ō, Ō̇): P̄ = Ō·vᵀ,
 * S̄ = c·P∘(P̄ − ρ) with ρ = rowsum(P∘P̄), v̄ = Pᵀ·Ō, q̄ = S̄·k, k̄ = S̄ᵀ·q (the first-order kernel's formulas and
 * order), and their tangents P̄̇ = Ō̇·vᵀ + Ō·v̇ᵀ, S̄̇ = c·(Ṗ∘(P̄ − ρ) + P∘(P̄̇ − ρ̇)) with ρ̇ = rowsum(Ṗ∘P̄ + P∘P̄̇),
 * v̄̇ = Ṗᵀ·Ō + Pᵀ·Ō̇, q̄̇ = S̄̇·k + S̄·k̇, k̄̇ = S̄̇ᵀ·q + S̄ᵀ·q̇. Masked entries have P = Ṗ = 0, so they add nothing.
 * Saved: (qkv, its tangent) and (P, Ṗ).
 */
final class AttentionRop {
    private static final String SCRATCH = "rop.attention.scratch";

    private AttentionRop() {
    }

    /** Returns the merged heads and their tangent; {@code probs[0]} receives (P, Ṗ) [B, H, T, T]. */
    static Dual forward(Dual qkv, int batch, int t, int heads, int hd, Dual[] probs, DType operands) {
        int d = heads * hd;
        float scale = (float) (1.0 / Math.sqrt(hd));
        Dual p = Dual.zeros("attention.probs", batch, heads, t, t);
        Dual out = Dual.forOverwrite("attention", batch, t, d); // every head's rows are written
        roundQkv(qkv, operands);
        AttentionKernel.probs(qkv.va(), qkv.vo(), p.va(), p.vo(), batch, t, heads, hd, scale);
        GemmOperands.roundInPlace(operands, p.va(), p.vo(), p.v().numel()); // P as P·v and the backward read it
        AttentionKernel.attend(qkv.va(), qkv.vo(), p.va(), p.vo(), out.va(), out.vo(), batch, t, heads, hd);
        float[] x = qkv.va(), xt = qkv.ta(), pv = p.va(), pt = p.ta(), ot = out.ta();
        int xo = qkv.vo(), xto = qkv.to(), po = p.vo(), pto = p.to(), oto = out.to();
        Parallel.range(batch * heads, 6L * t * t * hd, (from, to) -> {
            int th = t * hd;
            try (TemporaryScratch s = new TemporaryScratch(6 * th + th + t * t, SCRATCH)) {
                float[] w = s.a;
                int q = 0, k = th, v = 2 * th, qd = 3 * th, kd = 4 * th, vd = 5 * th, o = 6 * th, sd = 7 * th;
                for (int task = from; task < to; task++) {
                    int b = task / heads, h = task % heads;
                    gatherHead(x, xo, xt, xto, b, h, t, d, hd, w, q, qd);
                    int pp = po + task * t * t, ppt = pto + task * t * t;
                    Gemm.sgemm(false, true, t, t, hd, scale, w, qd, w, k, 0f, w, sd);
                    Gemm.sgemm(false, true, t, t, hd, scale, w, q, w, kd, 1f, w, sd);
                    for (int i = 0; i < t; i++) {
                        int pr = pp + i * t, sr = sd + i * t, tr = ppt + i * t;
                        float dot = 0f;
                        for (int j = 0; j <= i; j++) dot += pv[pr + j] * w[sr + j];
                        for (int j = 0; j <= i; j++) pt[tr + j] = pv[pr + j] * (w[sr + j] - dot);
                    }
                    GemmOperands.roundInPlace(operands, pt, ppt, t * t); // Ṗ as Ṗ·v and the backward read it
                    Gemm.sgemm(false, false, t, hd, t, 1f, pt, ppt, w, v, 0f, w, o);
                    Gemm.sgemm(false, false, t, hd, t, 1f, pv, pp, w, vd, 1f, w, o);
                    scatter(w, o, ot, oto + b * t * d + h * hd, d, t, hd);
                }
            }
        });
        probs[0] = p;
        return out;
    }

    /** Returns (qkv̄, its tangent) [B, T, 3D]. */
    static Dual backward(Dual qkv, Dual p, Dual obar, int batch, int t, int heads, int hd) {
        int d = heads * hd;
        float scale = (float) (1.0 / Math.sqrt(hd));
        Dual dq = Dual.forOverwrite("attention.grad", batch, t, 3 * d); // q, k and v of every head are written
        float[] x = qkv.va(), xt = qkv.ta(), pv = p.va(), pt = p.ta(), g = obar.va(), gt = obar.ta(), dv = dq.va(), dt = dq.ta();
        int xo = qkv.vo(), xto = qkv.to(), po = p.vo(), pto = p.to(), go = obar.vo(), gto = obar.to(), dvo = dq.vo(), dto = dq.to();
        Parallel.range(batch * heads, 13L * t * t * hd, (from, to) -> {
            int th = t * hd;
            try (TemporaryScratch s = new TemporaryScratch(9 * th + 2 * t * t, SCRATCH)) {
                float[] w = s.a;
                int q = 0, k = th, v = 2 * th, qd = 3 * th, kd = 4 * th, vd = 5 * th, gO = 6 * th, gOd = 7 * th, o = 8 * th;
                int a = 9 * th, c = 9 * th + t * t; // P̄ then S̄; P̄̇ then S̄̇
                for (int task = from; task < to; task++) {
                    int b = task / heads, h = task % heads, dBase = dvo + b * t * 3 * d, dtBase = dto + b * t * 3 * d;
                    gatherHead(x, xo, xt, xto, b, h, t, d, hd, w, q, qd);
                    gather(g, go + b * t * d + h * hd, d, w, gO, t, hd);
                    gather(gt, gto + b * t * d + h * hd, d, w, gOd, t, hd);
                    int pp = po + task * t * t, ppt = pto + task * t * t;
                    Gemm.sgemm(true, false, t, hd, t, 1f, pv, pp, w, gO, 0f, w, o);          // v̄ = Pᵀ·Ō
                    scatter(w, o, dv, dBase + 2 * d + h * hd, 3 * d, t, hd);
                    Gemm.sgemm(true, false, t, hd, t, 1f, pt, ppt, w, gO, 0f, w, o);         // v̄̇ = Ṗᵀ·Ō + Pᵀ·Ō̇
                    Gemm.sgemm(true, false, t, hd, t, 1f, pv, pp, w, gOd, 1f, w, o);
                    scatter(w, o, dt, dtBase + 2 * d + h * hd, 3 * d, t, hd);
                    Gemm.sgemm(false, true, t, t, hd, 1f, w, gO, w, v, 0f, w, a);            // P̄ = Ō·vᵀ
                    Gemm.sgemm(false, true, t, t, hd, 1f, w, gOd, w, v, 0f, w, c);           // P̄̇ = Ō̇·vᵀ + Ō·v̇ᵀ
                    Gemm.sgemm(false, true, t, t, hd, 1f, w, gO, w, vd, 1f, w, c);
                    for (int i = 0; i < t; i++) {
                        int pr = pp + i * t, tr = ppt + i * t, ar = a + i * t, cr = c + i * t;
                        float rho = 0f, rhod = 0f;
                        for (int j = 0; j <= i; j++) rho += w[ar + j] * pv[pr + j];
                        for (int j = 0; j <= i; j++) rhod += pt[tr + j] * w[ar + j] + pv[pr + j] * w[cr + j];
                        for (int j = 0; j <= i; j++) {
                            float pbar = w[ar + j];
                            w[cr + j] = scale * (pt[tr + j] * (pbar - rho) + pv[pr + j] * (w[cr + j] - rhod));
                            w[ar + j] = scale * pv[pr + j] * (pbar - rho);
                        }
                        java.util.Arrays.fill(w, ar + i + 1, ar + t, 0f);
                        java.util.Arrays.fill(w, cr + i + 1, cr + t, 0f);
                    }
                    Gemm.sgemm(false, false, t, hd, t, 1f, w, a, w, k, 0f, w, o);            // q̄ = S̄·k
                    scatter(w, o, dv, dBase + h * hd, 3 * d, t, hd);
                    Gemm.sgemm(false, false, t, hd, t, 1f, w, c, w, k, 0f, w, o);            // q̄̇ = S̄̇·k + S̄·k̇
                    Gemm.sgemm(false, false, t, hd, t, 1f, w, a, w, kd, 1f, w, o);
                    scatter(w, o, dt, dtBase + h * hd, 3 * d, t, hd);
                    Gemm.sgemm(true, false, t, hd, t, 1f, w, a, w, q, 0f, w, o);             // k̄ = S̄ᵀ·q
                    scatter(w, o, dv, dBase + d + h * hd, 3 * d, t, hd);
                    Gemm.sgemm(true, false, t, hd, t, 1f, w, c, w, q, 0f, w, o);             // k̄̇ = S̄̇ᵀ·q + S̄ᵀ·q̇
                    Gemm.sgemm(true, false, t, hd, t, 1f, w, a, w, qd, 1f, w, o);
                    scatter(w, o, dt, dtBase + d + h * hd, 3 * d, t, hd);
                }
            }
        });
        return dq;
    }

    /**
     * Under autocast (operands BF16 or FP16) qkv and its tangent are rounded in place: only the attention reads them
     * (now and in backward), and autocast hands it exactly these rounded operands ({@code causal_attention_probs} and
     * {@code causal_attention} are LOWER ops). The probabilities are rounded as P·v's operand after the softmax,
     * which runs in FP32; the backward's P̄, S̄ and their tangents stay FP32, as the first-order kernel's do.
     */
    private static void roundQkv(Dual qkv, DType operands) {
        GemmOperands.roundInPlace(operands, qkv.va(), qkv.vo(), qkv.v().numel());
        GemmOperands.roundInPlace(operands, qkv.ta(), qkv.to(), qkv.t().numel());
    }

    /** q, k, v of head h (at w[q], w[q + th], w[q + 2th]) and their tangents (at w[qd], ...). */
    private static void gatherHead(float[] x, int xo, float[] xt, int xto, int b, int h, int t, int d, int hd,
                                   float[] w, int q, int qd) {
        int th = t * hd, base = xo + b * t * 3 * d, tbase = xto + b * t * 3 * d;
        for (int part = 0; part < 3; part++) {
            gather(x, base + part * d + h * hd, 3 * d, w, q + part * th, t, hd);
            gather(xt, tbase + part * d + h * hd, 3 * d, w, qd + part * th, t, hd);
        }
    }

    private static void gather(float[] src, int off, int stride, float[] dst, int offDst, int rows, int cols) {
        for (int r = 0; r < rows; r++) System.arraycopy(src, off + r * stride, dst, offDst + r * cols, cols);
    }

    private static void scatter(float[] src, int off, float[] dst, int offDst, int stride, int rows, int cols) {
        for (int r = 0; r < rows; r++) System.arraycopy(src, off + r * cols, dst, offDst + r * stride, cols);
    }

}
