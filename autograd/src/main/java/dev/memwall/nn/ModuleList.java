package dev.memwall.nn;

/** An indexed container of modules, named "0", "1", ... as in PyTorch's nn.ModuleList. */
public final class ModuleList extends Module {
    private int size;

    public <M extends Module> M add(M m) {
        return child(Integer.toString(size++), m);
    }

    public int size() {
        return size;
    }
}
