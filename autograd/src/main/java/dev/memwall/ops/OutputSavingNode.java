package dev.memwall.ops;

import dev.memwall.autograd.Node;
import dev.memwall.autograd.Tensor;

/**
 * A node whose backward rule reads its own output (exp, tanh, softmax, log-softmax). The output is saved after it
 * is attached, so under createGraph the saved output still carries this node as its producer and second-order
 * gradients flow through it.
 */
abstract class OutputSavingNode extends Node {
    private int slot = -1;

    OutputSavingNode(String name, Tensor... inputs) {
        super(name, inputs);
    }

    final Tensor attachAndSave(Tensor out) {
        attach(out);
        slot = save(out);
        return out;
    }

    final Tensor output() {
        return saved(slot);
    }
}
