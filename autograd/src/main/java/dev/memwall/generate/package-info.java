/**
 * Text generation from a trained {@link dev.memwall.nn.Gpt}: {@link dev.memwall.generate.KvCache} (per layer K and V,
 * counted as KV_CACHE), {@link dev.memwall.generate.GptDecoder} with its two calls, {@code prefill} (the whole prompt
 * at once) and {@code decode} (one token), {@link dev.memwall.generate.Sampler} (temperature, top-k) and
 * {@link dev.memwall.generate.Generator}, the loop that streams sampled tokens. The decoder's own kernels record
 * {@link dev.memwall.autograd.OpStats} frames, which is how {@code memwall profile --generate} counts both phases.
 */
package dev.memwall.generate;
