/**
 * memwall's own JavaCPP GEMM bindings: {@link dev.memwall.kernels.blas.SgemmCritical}, {@code cblas_sgemm} on
 * heap arrays pinned in place (no staging copies), and {@link dev.memwall.kernels.blas.SbgemmCritical},
 * {@code cblas_sbgemm} (BF16 inputs, FP32 output) in the same way, looked up at run time since OpenBLAS defines it only
 * when built with BF16 support; and {@link dev.memwall.kernels.blas.Avx512Bf16Gemm}, memwall's own BF16 GEMM on
 * AVX512-BF16 ({@code vdpbf16ps}), which needs no BLAS; and {@link dev.memwall.kernels.blas.Bf16Convert}, FP32 ↔ BF16
 * conversion of array ranges in loops g++ vectorizes (used by {@code dev.memwall.kernels.Bf16Arrays}). Built only where a C++ compiler exists; {@code Gemm} falls
 * back to staging through native buffers, and {@code Gemm.sbgemm} to decoding BF16 to FP32, where they are missing.
 */
package dev.memwall.kernels.blas;
