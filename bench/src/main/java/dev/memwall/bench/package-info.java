/**
 * JMH benchmarks, packaged as {@code bench/target/benchmarks.jar}.
 *
 * <ul>
 *   <li>{@link dev.memwall.bench.GemmBenchmark}: every GEMM shape of one training step of the benchmark GPT, through
 *       {@code dev.memwall.kernels.Gemm} and through OpenBLAS called directly, so the cost of staging is visible.</li>
 *   <li>{@link dev.memwall.bench.SbgemmBenchmark}: BF16 GEMM (memwall's AVX512-BF16 kernel, native {@code cblas_sbgemm}, and decode + sgemm)
 *       against FP32 sgemm at the benchmark GPT's Linear shapes.</li>
 *   <li>{@link dev.memwall.bench.KernelBenchmark}: the memory-bound kernels (softmax, layer norm, GELU, AdamW) at the
 *       benchmark model's sizes, and {@link dev.memwall.bench.KernelRoofBenchmark}: a copy of the same byte volume,
 *       the bandwidth they should be compared with.</li>
 *   <li>{@link dev.memwall.bench.AttentionBenchmark}: the fused causal attention kernels of one layer (probabilities,
 *       P·v, backward) with their GEMMs blocked over the causal mask; the block size is a JVM property.</li>
 *   <li>{@link dev.memwall.bench.Report}: turns a JMH CSV result into GFLOP/s, GB/s and the ratios.</li>
 * </ul>
 *
 * All benchmarks report average time per call in microseconds; JMH has no FLOP or byte counters, so the static
 * {@code flops} and {@code bytes} methods here carry the work per call and {@code Report} divides.
 */
package dev.memwall.bench;
