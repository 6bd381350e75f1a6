/*
 * memwall's own BF16 GEMM for CPUs with AVX512-BF16 (vdpbf16ps): C = alpha * op(A) * op(B) + beta * C, row-major,
 * op(A) m x k and op(B) k x n as bfloat16 bit patterns (Java short[]), C float, with leading dimensions, single-threaded
 * (Java splits a call over its kernel threads). Neither OpenBLAS build the project can load defines cblas_sbgemm, so
 * this is the BF16 GEMM that runs on BF16 hardware.
 *
 * vdpbf16ps multiplies pairs of BF16 values and adds both products to an FP32 lane: lane i of the result is
 * acc[i] + a[2i+1]*b[2i+1] + a[2i]*b[2i]. So the operands are packed with the two k-neighbours of an element side by
 * side (Goto/BLIS packing, pair-interleaved):
 *   A panel (MR rows):    [k/2][MR][2]  - one 32-bit broadcast per row feeds the pair (A[r][p], A[r][p+1])
 *   B panel (NR columns): [k/2][NR][2]  - two 512-bit loads hold the pairs (B[p][j], B[p+1][j]) for 32 columns
 * An odd k is padded with a zero; rows past m and columns past n are padded with zeros and never stored.
 * The micro-kernel keeps an MR x NR = 12 x 32 block of C in 24 zmm accumulators. Blocking: KC values of k per pass
 * (the B micro-panel, KC*NR*2 bytes = 32 KiB, stays in a 48 KiB L1), MC rows of A per packed block (MC*KC*2 =
 * 96 KiB, in L2), NC columns of B per packed block (KC*NC*2 = 2 MiB at most; the GPT's widest is 1024 columns).
 *
 * Products of two BF16 values are exact in FP32; sums are FP32, in k order within a KC block; each block's sum is
 * scaled by alpha and added to C. Like every AVX512-BF16 implementation, vdpbf16ps treats BF16 subnormal inputs as
 * zero and flushes subnormal results (denormals-are-zero / flush-to-zero, whatever MXCSR says).
 *
 * The code is compiled for AVX512-BF16 through target attributes, function by function, not with -mavx512bf16 for the
 * whole library: the JNI glue stays plain x86-64, so the library loads anywhere, and Java calls the kernel only on a
 * CPU whose /proc/cpuinfo lists avx512_bf16. A compiler without the intrinsics builds a stub that reports itself
 * missing (memwall_bf16gemm_compiled() is false).
 *
 * The packing buffers are memwall_bf16gemm_workspace(m, n, k) elements of a Java short[] from offWork (counted as
 * WORKSPACE by Java; one slice per part of a call split over threads). Every argument and bound is checked in Java before the call: this runs inside a JNI critical region.
 */
#ifndef MEMWALL_BF16GEMM_H
#define MEMWALL_BF16GEMM_H

#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__) && defined(__has_include)
#  if __has_include(<avx512bf16intrin.h>)
#    define MEMWALL_BF16GEMM_COMPILED 1
#    include <immintrin.h>
#  endif
#endif

namespace memwall_bf16 {

constexpr int MR = 12;    /* rows of C per micro-kernel call */
constexpr int NR = 32;    /* columns of C per micro-kernel call (two zmm of 16 floats) */
constexpr int KC = 512;   /* values of k per packed block (even) */
constexpr int MC = 96;    /* rows of A per packed block (a multiple of MR) */
constexpr int NC = 2048;  /* columns of B per packed block (a multiple of NR) */

static inline long round_up(long x, long to) { return (x + to - 1) / to * to; }

/* Elements of the packing buffer a call of these sizes needs: one packed block of A and one of B. */
static inline long workspace(int m, int n, int k) {
    long kc = round_up(k < KC ? k : KC, 2);
    long mc = round_up(m < MC ? m : MC, MR), nc = round_up(n < NC ? n : NC, NR);
    return (mc + nc) * kc;
}

#ifdef MEMWALL_BF16GEMM_COMPILED
#define MEMWALL_BF16_TARGET __attribute__((target("avx512f,avx512bw,avx512bf16")))

/* Interleaves 32 columns of two rows (of B k x n, or of A stored k x m) into 32 pairs: (r0[j], r1[j]) for j = 0..31. */
MEMWALL_BF16_TARGET
static inline void interleave_rows(const uint16_t* r0, const uint16_t* r1, int cols, uint32_t* dst) {
    static const uint16_t lo[32] = {0, 32, 1, 33, 2, 34, 3, 35, 4, 36, 5, 37, 6, 38, 7, 39,
                                    8, 40, 9, 41, 10, 42, 11, 43, 12, 44, 13, 45, 14, 46, 15, 47};
    static const uint16_t hi[32] = {16, 48, 17, 49, 18, 50, 19, 51, 20, 52, 21, 53, 22, 54, 23, 55,
                                    24, 56, 25, 57, 26, 58, 27, 59, 28, 60, 29, 61, 30, 62, 31, 63};
    __mmask32 mask = cols >= 32 ? 0xFFFFFFFFu : ((1u << cols) - 1u);
    __m512i x0 = _mm512_maskz_loadu_epi16(mask, r0);
    __m512i x1 = r1 == nullptr ? _mm512_setzero_si512() : _mm512_maskz_loadu_epi16(mask, r1);
    _mm512_storeu_si512(dst, _mm512_permutex2var_epi16(x0, _mm512_loadu_si512(lo), x1));
    _mm512_storeu_si512(dst + 16, _mm512_permutex2var_epi16(x0, _mm512_loadu_si512(hi), x1));
}

/*
 * Packs rows i0..i0+mc, k values p0..p0+kc of op(A) into panels of MR rows: dst[panel][q][r] holds the pair
 * (op(A)(i, p0+2q), op(A)(i, p0+2q+1)) as one 32-bit word, zeros past m and past k.
 */
MEMWALL_BF16_TARGET
static void pack_a(const uint16_t* a, bool ta, int lda, int i0, int mc, int p0, int kc, uint32_t* dst) {
    int kp = (kc + 1) / 2;
    for (int ir = 0; ir < mc; ir += MR) {
        uint32_t* panel = dst + (long) (ir / MR) * kp * MR;
        int rows = mc - ir < MR ? mc - ir : MR;
        if (ta) { /* A stored k x m: rows p and p+1 of A, MR values each, interleaved (zeros past m and k) */
            uint32_t pairs[32];
            for (int q = 0; q < kp; q++) {
                const uint16_t* r0 = a + (long) (p0 + 2 * q) * lda + i0 + ir;
                interleave_rows(r0, 2 * q + 1 < kc ? r0 + lda : nullptr, rows, pairs);
                memcpy(panel + q * MR, pairs, MR * sizeof(uint32_t));
            }
            continue;
        }
        for (int r = 0; r < MR; r++) {
            if (r >= rows) {
                for (int q = 0; q < kp; q++) panel[q * MR + r] = 0;
                continue;
            }
            const uint16_t* row = a + (long) (i0 + ir + r) * lda + p0; /* the pair is adjacent in A's row */
            for (int q = 0; q < kc / 2; q++) {
                uint32_t w;
                memcpy(&w, row + 2 * q, 4);
                panel[q * MR + r] = w;
            }
            if (kc & 1) panel[(kp - 1) * MR + r] = row[kc - 1];
        }
    }
}

/*
 * Packs k values p0..p0+kc, columns j0..j0+nc of op(B) into panels of NR columns: dst[panel][q][j] holds the pair
 * (op(B)(p0+2q, j), op(B)(p0+2q+1, j)), zeros past n and past k.
 */
MEMWALL_BF16_TARGET
static void pack_b(const uint16_t* b, bool tb, int ldb, int p0, int kc, int j0, int nc, uint32_t* dst) {
    int kp = (kc + 1) / 2;
    for (int jr = 0; jr < nc; jr += NR) {
        uint32_t* panel = dst + (long) (jr / NR) * kp * NR;
        int cols = nc - jr < NR ? nc - jr : NR;
        if (!tb) { /* rows p and p+1 of B, interleaved */
            for (int q = 0; q < kp; q++) {
                const uint16_t* r0 = b + (long) (p0 + 2 * q) * ldb + j0 + jr;
                const uint16_t* r1 = 2 * q + 1 < kc ? r0 + ldb : nullptr;
                interleave_rows(r0, r1, cols, panel + q * NR);
            }
        } else { /* B stored n x k: the pair is adjacent in B's row j */
            for (int j = 0; j < NR; j++) {
                if (j >= cols) {
                    for (int q = 0; q < kp; q++) panel[q * NR + j] = 0;
                    continue;
                }
                const uint16_t* row = b + (long) (j0 + jr + j) * ldb + p0;
                for (int q = 0; q < kc / 2; q++) {
                    uint32_t w;
                    memcpy(&w, row + 2 * q, 4);
                    panel[q * NR + j] = w;
                }
                if (kc & 1) panel[(kp - 1) * NR + j] = row[kc - 1];
            }
        }
    }
}

/*
 * C block (ROWS <= MR rows, cols <= NR columns) from kp packed pairs: first block of k: C = alpha*acc + beta*C (C not
 * read when beta is 0, as BLAS); later blocks: C += alpha*acc.
 */
template <int ROWS>
MEMWALL_BF16_TARGET
static void micro(int kp, const uint32_t* ap, const uint32_t* bp, float* c, int ldc, int cols, float alpha,
                  float beta, bool first) {
    __m512 acc0[ROWS], acc1[ROWS];
#pragma GCC unroll 16
    for (int r = 0; r < ROWS; r++) acc0[r] = acc1[r] = _mm512_setzero_ps();
    for (int q = 0; q < kp; q++) {
        __m512bh b0 = (__m512bh) _mm512_loadu_si512(bp + q * NR);
        __m512bh b1 = (__m512bh) _mm512_loadu_si512(bp + q * NR + 16);
#pragma GCC unroll 16
        for (int r = 0; r < ROWS; r++) {
            __m512bh a = (__m512bh) _mm512_set1_epi32((int) ap[q * MR + r]);
            acc0[r] = _mm512_dpbf16_ps(acc0[r], a, b0);
            acc1[r] = _mm512_dpbf16_ps(acc1[r], a, b1);
        }
    }
    __mmask16 m0 = cols >= 16 ? (__mmask16) 0xFFFF : (__mmask16) ((1u << cols) - 1u);
    __mmask16 m1 = cols >= 32 ? (__mmask16) 0xFFFF : cols <= 16 ? (__mmask16) 0 : (__mmask16) ((1u << (cols - 16)) - 1u);
    __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    bool read = !first || beta != 0.0f;
#pragma GCC unroll 16
    for (int r = 0; r < ROWS; r++) {
        float* row = c + (long) r * ldc;
        __m512 x0 = _mm512_mul_ps(va, acc0[r]), x1 = _mm512_mul_ps(va, acc1[r]);
        if (read) {
            __m512 c0 = _mm512_maskz_loadu_ps(m0, row), c1 = _mm512_maskz_loadu_ps(m1, row + 16);
            if (first) {
                x0 = _mm512_fmadd_ps(vb, c0, x0);
                x1 = _mm512_fmadd_ps(vb, c1, x1);
            } else {
                x0 = _mm512_add_ps(c0, x0);
                x1 = _mm512_add_ps(c1, x1);
            }
        }
        _mm512_mask_storeu_ps(row, m0, x0);
        _mm512_mask_storeu_ps(row + 16, m1, x1);
    }
}

typedef void (*micro_fn)(int, const uint32_t*, const uint32_t*, float*, int, int, float, float, bool);
static const micro_fn MICRO[MR + 1] = {nullptr, micro<1>, micro<2>, micro<3>, micro<4>, micro<5>, micro<6>,
                                       micro<7>, micro<8>, micro<9>, micro<10>, micro<11>, micro<12>};

MEMWALL_BF16_TARGET
static void gemm(bool ta, bool tb, int m, int n, int k, float alpha, const uint16_t* a, int lda, const uint16_t* b,
                 int ldb, float beta, float* c, int ldc, uint16_t* work) {
    uint32_t* ap = reinterpret_cast<uint32_t*>(work);
    long kcMax = round_up(k < KC ? k : KC, 2), mcMax = round_up(m < MC ? m : MC, MR);
    uint32_t* bp = ap + mcMax * kcMax / 2;
    for (int jc = 0; jc < n; jc += NC) {
        int nc = n - jc < NC ? n - jc : NC;
        for (int pc = 0; pc < k; pc += KC) {
            int kc = k - pc < KC ? k - pc : KC, kp = (kc + 1) / 2;
            pack_b(b, tb, ldb, pc, kc, jc, nc, bp);
            for (int ic = 0; ic < m; ic += MC) {
                int mc = m - ic < MC ? m - ic : MC;
                pack_a(a, ta, lda, ic, mc, pc, kc, ap);
                for (int jr = 0; jr < nc; jr += NR) {
                    const uint32_t* bpanel = bp + (long) (jr / NR) * kp * NR;
                    int cols = nc - jr < NR ? nc - jr : NR;
                    for (int ir = 0; ir < mc; ir += MR) {
                        int rows = mc - ir < MR ? mc - ir : MR;
                        MICRO[rows](kp, ap + (long) (ir / MR) * kp * MR, bpanel,
                                    c + (long) (ic + ir) * ldc + jc + jr, ldc, cols, alpha, beta, pc == 0);
                    }
                }
            }
        }
    }
}
#endif

} /* namespace memwall_bf16 */

/* Whether the compiler built the AVX512-BF16 kernel (false: a stub that must not be called). */
static inline bool memwall_bf16gemm_compiled() {
#ifdef MEMWALL_BF16GEMM_COMPILED
    return true;
#else
    return false;
#endif
}

/* Elements of the short[] packing buffer memwall_bf16gemm needs for these sizes. */
static inline long memwall_bf16gemm_workspace(int m, int n, int k) {
    return memwall_bf16::workspace(m, n, k);
}

static inline void memwall_bf16gemm(bool transA, bool transB, int m, int n, int k, float alpha,
                                    const short* a, int offA, int lda, const short* b, int offB, int ldb,
                                    float beta, float* c, int offC, int ldc, short* work, int offWork) {
#ifdef MEMWALL_BF16GEMM_COMPILED
    memwall_bf16::gemm(transA, transB, m, n, k, alpha, reinterpret_cast<const uint16_t*>(a + offA), lda,
                       reinterpret_cast<const uint16_t*>(b + offB), ldb, beta, c + offC, ldc,
                       reinterpret_cast<uint16_t*>(work + offWork));
#else
    (void) transA; (void) transB; (void) m; (void) n; (void) k; (void) alpha; (void) a; (void) offA; (void) lda;
    (void) b; (void) offB; (void) ldb; (void) beta; (void) c; (void) offC; (void) ldc; (void) work; (void) offWork;
#endif
}

#endif
