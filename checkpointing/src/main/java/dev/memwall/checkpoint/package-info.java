/**
 * Activation checkpointing (rematerialization): {@link dev.memwall.checkpoint.Checkpoint} recomputes a region in
 * backward instead of keeping its activations, {@link dev.memwall.checkpoint.Policy} says which blocks of a model
 * are recomputed, and {@link dev.memwall.checkpoint.Checkpointing} installs a policy on a GPT.
 */
package dev.memwall.checkpoint;
