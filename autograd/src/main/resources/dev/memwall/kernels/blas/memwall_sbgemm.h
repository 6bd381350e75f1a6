/*
 * cblas_sbgemm (bf16 A and B, fp32 C) on operands given as base pointer + element offset, as memwall_sgemm.h does for
 * cblas_sgemm: JavaCPP hands a Java short[] to native code as a pointer to its first element (pinned with
 * GetPrimitiveArrayCritical, see SbgemmCritical.java), so the offsets are added here. Every argument and bound is
 * checked in Java before the call: this function runs inside a JNI critical region, where the garbage collector waits.
 *
 * cblas.h declares cblas_sbgemm whatever the build, but OpenBLAS defines it only when built with BUILD_BFLOAT16=1.
 * Linking to it directly would make loading (or the first call) fail with a missing symbol where it is absent, so the
 * function is looked up at run time in the very OpenBLAS that defines cblas_sgemm for this library (the one the preset
 * has loaded): memwall_sbgemm_available() says whether it was found, and Java asks before calling.
 */
#ifndef MEMWALL_SBGEMM_H
#define MEMWALL_SBGEMM_H

#include <cblas.h>
#include <dlfcn.h>

/* The pointer type of cblas_sbgemm as cblas.h declares it: a changed signature fails to compile here. */
typedef decltype(&cblas_sbgemm) memwall_sbgemm_fn;

static inline memwall_sbgemm_fn memwall_sbgemm_lookup() {
    Dl_info info;
    if (dladdr(reinterpret_cast<void*>(&cblas_sgemm), &info) == 0 || info.dli_fname == nullptr) return nullptr;
    void* openblas = dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD); /* already loaded: only a handle on it */
    if (openblas == nullptr) return nullptr;
    return reinterpret_cast<memwall_sbgemm_fn>(dlsym(openblas, "cblas_sbgemm"));
}

static inline memwall_sbgemm_fn memwall_sbgemm_function() {
    static const memwall_sbgemm_fn fn = memwall_sbgemm_lookup(); /* looked up once, thread-safe (C++11 statics) */
    return fn;
}

/* Whether the loaded OpenBLAS defines cblas_sbgemm (it was built with BUILD_BFLOAT16=1). */
static inline bool memwall_sbgemm_available() {
    return memwall_sbgemm_function() != nullptr;
}

static inline void memwall_sbgemm(bool transA, bool transB, int m, int n, int k, float alpha,
                                  const short* a, int offA, int lda, const short* b, int offB, int ldb,
                                  float beta, float* c, int offC, int ldc) {
    memwall_sbgemm_fn fn = memwall_sbgemm_function();
    if (fn == nullptr) return; /* never reached: Java checks memwall_sbgemm_available() first */
    fn(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans, m, n, k, alpha,
       reinterpret_cast<const bfloat16*>(a + offA), lda, reinterpret_cast<const bfloat16*>(b + offB), ldb,
       beta, c + offC, ldc);
}

#endif
