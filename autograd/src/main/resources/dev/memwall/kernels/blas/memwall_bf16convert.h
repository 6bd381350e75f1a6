/*
 * FP32 <-> BF16 conversion of whole arrays, bit for bit what dev.memwall.format.Bf16 computes element by element:
 * round to nearest, ties to even, on the dropped 16 bits; a NaN becomes the quiet NaN 0x7FC0 with the input's sign;
 * above the largest finite value (the tie 0x7F7F8000 included) either infinity (the rounding carry lands on 0x7F80 by
 * itself) or, saturating, +-0x7F7F. Decoding appends 16 zero bits.
 *
 * The loops are branch-free integer arithmetic that g++ vectorizes, compiled for AVX-512 F and for plain x86-64; Java
 * picks the AVX-512 one where /proc/cpuinfo lists avx512f (no run-time CPU dispatch in C: GCC's needs libgcc symbols a
 * JavaCPP library does not link), so the library loads on any x86-64 CPU. Integer
 * operations only: no floating-point instruction touches the values, so subnormals and NaN payloads are never
 * flushed or altered the way vcvtneps2bf16 would.
 *
 * Java passes heap arrays pinned for the call (JNI critical region, see Bf16Convert.java) and checks every bound first.
 */
#ifndef MEMWALL_BF16CONVERT_H
#define MEMWALL_BF16CONVERT_H

#include <stdint.h>
#include <string.h>

namespace memwall_bf16convert {

/* The loops, written once and compiled twice: for AVX-512 F (16 lanes; target attribute, so the rest of the library
   stays plain x86-64 and loads on any CPU) and for plain x86-64 (SSE2, 4 lanes). */
/* Signed compares and selects on values that fit 31 bits: SSE2 has those (pcmpgtd), not the unsigned ones. */
#define MEMWALL_BF16_ENCODE_LOOP                                                                             \
    const int32_t limit = saturate ? 0x7F7F : 0x7F80;                                                        \
    for (int i = 0; i < n; i++) {                                                                             \
        uint32_t bits = src[i];                                                                               \
        int32_t abs = (int32_t) (bits & 0x7FFFFFFFu);                                                         \
        /* a NaN magnitude may wrap here: replaced below */                                                   \
        int32_t code = (int32_t) ((((uint32_t) abs) + 0x7FFFu + ((((uint32_t) abs) >> 16) & 1u)) >> 16);      \
        code = code < limit ? code : limit;                                                                   \
        code = abs > 0x7F800000 ? 0x7FC0 : code;                                                              \
        dst[i] = (uint16_t) (((bits >> 16) & 0x8000u) | (uint32_t) code);                                     \
    }
#define MEMWALL_BF16_DECODE_LOOP \
    for (int i = 0; i < n; i++) dst[i] = (uint32_t) src[i] << 16;

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx512f")))
static void encode_avx512(const uint32_t* __restrict src, uint16_t* __restrict dst, int n, bool saturate) {
    MEMWALL_BF16_ENCODE_LOOP
}

__attribute__((target("avx512f")))
static void decode_avx512(const uint16_t* __restrict src, uint32_t* __restrict dst, int n) {
    MEMWALL_BF16_DECODE_LOOP
}
#  define MEMWALL_BF16CONVERT_AVX512 1
#endif

static void encode_generic(const uint32_t* __restrict src, uint16_t* __restrict dst, int n, bool saturate) {
    MEMWALL_BF16_ENCODE_LOOP
}

static void decode_generic(const uint16_t* __restrict src, uint32_t* __restrict dst, int n) {
    MEMWALL_BF16_DECODE_LOOP
}

}  // namespace memwall_bf16convert

/*
 * dst[offDst + i] = Bf16.fromFloat(src[offSrc + i], saturate ? SATURATE : NON_SATURATE) for i < n; avx512 only where
 * the CPU reports avx512f (Java reads /proc/cpuinfo), else the plain x86-64 loop.
 */
static inline void memwall_bf16_encode(const float* src, int offSrc, short* dst, int offDst, int n, bool saturate,
                                       bool avx512) {
    const uint32_t* s = reinterpret_cast<const uint32_t*>(src + offSrc);
    uint16_t* d = reinterpret_cast<uint16_t*>(dst + offDst);
#ifdef MEMWALL_BF16CONVERT_AVX512
    if (avx512) { memwall_bf16convert::encode_avx512(s, d, n, saturate); return; }
#endif
    (void) avx512;
    memwall_bf16convert::encode_generic(s, d, n, saturate);
}

/* dst[offDst + i] = Bf16.toFloat(src[offSrc + i]) for i < n. */
static inline void memwall_bf16_decode(const short* src, int offSrc, float* dst, int offDst, int n, bool avx512) {
    const uint16_t* s = reinterpret_cast<const uint16_t*>(src + offSrc);
    uint32_t* d = reinterpret_cast<uint32_t*>(dst + offDst);
#ifdef MEMWALL_BF16CONVERT_AVX512
    if (avx512) { memwall_bf16convert::decode_avx512(s, d, n); return; }
#endif
    (void) avx512;
    memwall_bf16convert::decode_generic(s, d, n);
}

#endif
