/**
 * Raw compute kernels over heap arrays with explicit offsets: GEMM through OpenBLAS ({@link dev.memwall.kernels.Gemm}),
 * everything else as {@link dev.memwall.kernels.KernelBodies}: plain Java loops ({@link dev.memwall.kernels.ScalarKernels})
 * or explicit SIMD through the incubating Vector API (src/main/vector), chosen once by
 * {@link dev.memwall.kernels.Vectorization}; split over the cores by {@link dev.memwall.kernels.Parallel}
 * when a loop is large enough to pay for it ({@code range} returns only once no chunk is running, even when one
 * fails). Kernels allocate nothing that outlives the call except GEMM's per-thread staging buffers
 * ({@link dev.memwall.kernels.GemmWorkspace}, counted as WORKSPACE, freed with the thread's outermost scope), and
 * know nothing of tensors or autograd; the ops in {@code dev.memwall.ops} call them.
 */
package dev.memwall.kernels;
