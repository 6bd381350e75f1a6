/**
 * Raw compute kernels over heap arrays with explicit offsets: GEMM through OpenBLAS ({@link dev.memwall.kernels.Gemm}:
 * the heap arrays in place through {@code kernels.blas} where that binding is built, else staged through native
 * buffers; {@link dev.memwall.kernels.Gemm#sbgemm} with BF16 inputs and FP32 accumulation, see
 * {@link dev.memwall.kernels.Sbgemm}), everything else as {@link dev.memwall.kernels.KernelBodies}: plain Java loops
 * ({@link dev.memwall.kernels.ScalarKernels}) or explicit SIMD through the incubating Vector API (src/main/vector), chosen
 * once by {@link dev.memwall.kernels.Vectorization}; split over the cores by {@link dev.memwall.kernels.Parallel} when a
 * loop is large enough to pay for it ({@code range} returns only once no chunk is running, even when one fails).
 * Kernels allocate nothing that outlives the call except GEMM's per-thread workspace
 * ({@link dev.memwall.kernels.GemmWorkspace}: split-K partial sums, the staging path's buffers, and BF16 operands decoded to FP32; counted as
 * WORKSPACE, freed with the thread's outermost scope; scratch used within one call, such as
 * {@link dev.memwall.kernels.AttentionKernel}'s per-head blocks, counts as TEMPORARY), and know nothing of tensors or
 * autograd; the ops in {@code dev.memwall.ops} call them.
 */
package dev.memwall.kernels;
