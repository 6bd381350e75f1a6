/*
 * cblas_sgemm on operands given as base pointer + element offset. JavaCPP hands a Java float[] to native code as a
 * pointer to its first element (pinned with GetPrimitiveArrayCritical, see SgemmCritical.java), so the offset of an
 * operand inside its array is added here. Every argument and bound is checked in Java before the call: this function
 * runs inside a JNI critical region, where the garbage collector waits, so it does nothing but the BLAS call.
 */
#ifndef MEMWALL_SGEMM_H
#define MEMWALL_SGEMM_H

#include <cblas.h>

static inline void memwall_sgemm(bool transA, bool transB, int m, int n, int k, float alpha,
                                 const float* a, int offA, int lda, const float* b, int offB, int ldb,
                                 float beta, float* c, int offC, int ldc) {
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                m, n, k, alpha, a + offA, lda, b + offB, ldb, beta, c + offC, ldc);
}

#endif
