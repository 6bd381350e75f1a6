/**
 * The autograd core: {@link dev.memwall.autograd.Tensor} (contiguous, row-major, reference-counted
 * {@link dev.memwall.autograd.Storage}), the define-by-run graph of {@link dev.memwall.autograd.Node}s and the
 * {@link dev.memwall.autograd.Engine} that runs it backward (with {@code createGraph} for higher-order gradients),
 * {@link dev.memwall.autograd.GradMode}, {@link dev.memwall.autograd.Scope} (the arena that bounds a graph's
 * lifetime), {@link dev.memwall.autograd.SavedTensorHooks} and {@link dev.memwall.autograd.Recompute} (what a node
 * keeps for backward, and recomputing it instead), and {@link dev.memwall.autograd.FlatBuffer} views for flat
 * parameter and gradient ranges. {@link dev.memwall.autograd.OpStats} counts, when enabled, each op's calls, time,
 * FLOPs and bytes per phase.
 */
package dev.memwall.autograd;
