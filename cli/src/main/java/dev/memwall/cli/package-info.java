/**
 * The {@code memwall} command (picocli): {@code train}, {@code bench}, {@code eval} and {@code compare-memory}, their
 * JSON output, the memory report and charts, the {@code --checkpoint} option (with BUDGET planning), the real-memory
 * demonstration in child JVMs, and advice when a run exhausts the Java heap. Exit codes: 0 success, 1 a bad file or a
 * failed run, 2 bad arguments.
 */
package dev.memwall.cli;
