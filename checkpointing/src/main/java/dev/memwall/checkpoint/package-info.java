/**
 * Activation checkpointing (rematerialization): {@link dev.memwall.checkpoint.Checkpoint} recomputes a region in
 * backward instead of keeping its activations; {@link dev.memwall.checkpoint.Policy} says, block by block, what a
 * sequential model keeps, checkpoints or recomputes selectively (with the core's
 * {@link dev.memwall.autograd.Recompute}); {@link dev.memwall.checkpoint.Checkpointing} installs a policy on a GPT;
 * {@link dev.memwall.checkpoint.Profiler} measures a model and {@link dev.memwall.checkpoint.Planner} chooses the
 * policy with the least recomputation that fits a memory budget. docs/checkpointing.md explains all of it.
 */
package dev.memwall.checkpoint;
