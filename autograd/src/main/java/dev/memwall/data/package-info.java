/**
 * Training data for the byte-level models: {@link dev.memwall.data.Batch} holds row-major {@code [batch, context]}
 * ids and next-byte targets (with -100 marking positions the cross-entropy ignores); {@link dev.memwall.data.ByteDataset}
 * turns the bytes of any file into random or sequential windows (inputs {@code data[s, s+T)}, targets
 * {@code data[s+1, s+T+1)}) with a train/eval split; and {@link dev.memwall.data.AdditionTask} is the built-in
 * synthetic task — multi-digit addition with reversed answer digits, a deterministic held-out set of operand pairs,
 * answer-only targets and greedy exact-match evaluation through a {@link dev.memwall.data.NextByte} predictor — so
 * that training and its tests need no download. Every sampler is deterministic for a given {@link dev.memwall.rng.Rng}
 * seed and state.
 */
package dev.memwall.data;
