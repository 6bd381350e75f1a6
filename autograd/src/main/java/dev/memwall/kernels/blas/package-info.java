/**
 * memwall's own JavaCPP binding to OpenBLAS: {@link dev.memwall.kernels.blas.SgemmCritical}, {@code cblas_sgemm} on
 * heap arrays pinned in place (no staging copies). Built only where a C++ compiler exists; {@code Gemm} falls back to
 * staging through native buffers where it is missing.
 */
package dev.memwall.kernels.blas;
