/**
 * The {@code memwall} command (picocli): {@code train}, {@code bench}, {@code eval} and {@code compare-memory}, their
 * JSON output, {@code compare-sharding} (every ZeRO stage on N worker JVMs through the launcher, against the ZeRO
 * formulas), {@code profile} (every op of a training step, or with {@code --generate} of text generation's prefill and decode,
 * on a roofline against roofs measured on the spot), the
 * memory report and charts, the {@code --checkpoint} option (with BUDGET planning), the real-memory
 * demonstration in child JVMs, advice when a run exhausts the Java heap, and the reconciliation of a resumed run's
 * options with the settings it saved. Every command's first line names the model it runs. Exit codes: 0 success, 1 a bad file or a
 * failed run, 2 bad arguments.
 */
package dev.memwall.cli;
