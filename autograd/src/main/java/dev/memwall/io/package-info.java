/**
 * Checkpoint files in the safetensors format of PyTorch and Hugging Face, so that weights move between memwall and
 * the Python ecosystem by name: {@link dev.memwall.io.SafeTensors#write} writes tensors (F32, F16, BF16, F8_E4M3,
 * F8_E5M2, I32, BOOL) and string metadata atomically through a forced temporary file and an atomic rename, while
 * {@link dev.memwall.io.SafeTensors#read} and {@link dev.memwall.io.SafeTensors#readInto} first validate the whole
 * header against the file size and, when loading into existing tensors such as a module's parameters, every name,
 * shape and dtype against the targets, so that a malformed or mismatched file is rejected with a
 * {@link dev.memwall.io.SafeTensorsException} naming the file and the first offending tensor, before any tensor is
 * allocated or overwritten and without allocating more than the file's size justifies.
 */
package dev.memwall.io;
