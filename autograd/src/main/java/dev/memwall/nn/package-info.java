/**
 * Layers with named parameters, PyTorch's names and layouts: {@link dev.memwall.nn.Linear},
 * {@link dev.memwall.nn.LayerNorm}, {@link dev.memwall.nn.Embedding}, {@link dev.memwall.nn.Dropout},
 * {@link dev.memwall.nn.CausalSelfAttention}, {@link dev.memwall.nn.Mlp}, {@link dev.memwall.nn.Block} and
 * {@link dev.memwall.nn.Gpt}. Each forward releases its own intermediates as soon as it is done with them and never
 * its input, so what stays alive after a forward is exactly what backward needs.
 */
package dev.memwall.nn;
