/** Deterministic, capturable random numbers: the same seed and state give the same values on every run and thread count. */
package dev.memwall.rng;
