package dev.memwall.nn;

import dev.memwall.autograd.Tensor;
import dev.memwall.ops.F;
import dev.memwall.rng.Rng;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * A GPT: token and learned position embeddings, pre-LN blocks, a final LayerNorm and an untied LM head without bias.
 * Parameter names follow PyTorch ({@code tok.weight}, {@code blocks.0.qkv.weight}, {@code head.weight}, ...).
 */
public final class Gpt extends Module {
    private final GptConfig config;
    private final Embedding tok, pos;
    private final List<Block> blocks = new ArrayList<>();
    private final LayerNorm lnf;
    private final Linear head;
    private final Dropout embDrop;
    private BlockRunner runner = BlockRunner.SEQUENTIAL;
    private UnitHook unitHook;
    private final Rng dropoutRng;

    /**
     * How the blocks are run over the residual stream: one after another by default; activation checkpointing
     * installs a runner that wraps segments of blocks in recomputed regions. A runner must not release {@code x}.
     */
    @FunctionalInterface
    public interface BlockRunner {
        Tensor run(List<Block> blocks, Tensor x);

        BlockRunner SEQUENTIAL = (blocks, x) -> runSequential(blocks, 0, blocks.size(), x);
    }

    /** Runs blocks [from, to) in order; releases the intermediates it creates, never {@code x}. */
    public static Tensor runSequential(List<Block> blocks, int from, int to, Tensor x) {
        Tensor cur = x;
        for (int i = from; i < to; i++) {
            Tensor next = blocks.get(i).forward(cur);
            if (cur != x) cur.release();
            cur = next;
        }
        return cur == x ? x.share() : cur;
    }

    /**
     * Wraps each parameter unit's forward: unit 0 is the embeddings ({@link #embed}), 1 … L the blocks (every call of
     * {@link Block#forward}, recomputations included), L + 1 the final LayerNorm and LM head ({@link #logits}). ZeRO
     * stage 3 gathers a unit's parameters around it (FSDP's pre- and post-forward hooks).
     */
    @FunctionalInterface
    public interface UnitHook {
        Tensor around(int unit, java.util.function.Supplier<Tensor> body);
    }

    /** Installs {@code h} around every unit's forward (null removes it). */
    public void unitHook(UnitHook h) {
        unitHook = h;
        for (int i = 0; i < blocks.size(); i++) {
            int unit = i + 1;
            blocks.get(i).around(h == null ? null : body -> h.around(unit, body));
        }
    }

    /**
     * Runs {@code body} with unit {@code unit}'s parameters in the model, for code that reads them by name outside
     * the unit's own forward (generation): through the unit hook when one is installed — ZeRO stage 3 gathers the unit
     * around it, a collective every rank must call alike — else directly.
     */
    public Tensor withUnit(int unit, java.util.function.Supplier<Tensor> body) {
        return unitHook == null ? body.get() : unitHook.around(unit, body);
    }

    /** Whether the parameters are in the model only inside their unit's window ({@link #unitHook} installed). */
    public boolean unitsGathered() {
        return unitHook != null;
    }

    /** Parameter units: the embeddings, each block, the final LayerNorm with the head. */
    public int unitCount() {
        return blocks.size() + 2;
    }

    /** The unit parameter {@code name} (as in {@link #namedParameters()}) belongs to. */
    public int unitOf(String name) {
        if (name.startsWith("tok.") || name.startsWith("pos.")) return 0;
        if (name.startsWith("blocks.")) {
            int end = name.indexOf('.', 7);
            return Integer.parseInt(name.substring(7, end)) + 1;
        }
        if (name.startsWith("lnf.") || name.startsWith("head.")) return blocks.size() + 1;
        throw new IllegalArgumentException("parameter " + name + " belongs to no unit");
    }

    public void blockRunner(BlockRunner r) {
        runner = r == null ? BlockRunner.SEQUENTIAL : r;
    }

    public BlockRunner blockRunner() {
        return runner;
    }

    /** Initialises from {@code rng}; dropout masks (when {@code c.dropout() > 0}) come from {@link Rng#defaultRng()}. */
    public Gpt(GptConfig c, Rng rng) {
        this(c, rng, Rng.defaultRng());
    }

    /** Initialises from {@code init}; dropout masks come from {@code dropout}, whose state a checkpoint saves. */
    public Gpt(GptConfig c, Rng init, Rng dropout) {
        Rng rng = init;
        this.config = c;
        this.dropoutRng = dropout;
        this.tok = child("tok", new Embedding(c.vocab(), c.dim(), rng));
        this.pos = child("pos", new Embedding(c.context(), c.dim(), rng));
        ModuleList list = child("blocks", new ModuleList());
        for (int i = 0; i < c.layers(); i++) blocks.add(list.add(new Block(c, rng, dropout)));
        this.embDrop = child("emb_drop", new Dropout(c.dropout(), dropout));
        this.lnf = child("lnf", new LayerNorm(c.dim()));
        this.head = child("head", new Linear(c.dim(), c.vocab(), false, rng));
    }

    /** The generator of this model's dropout masks (recomputation must replay it). */
    public Rng dropoutRng() {
        return dropoutRng;
    }

    public GptConfig config() {
        return config;
    }

    public List<Block> blocks() {
        return Collections.unmodifiableList(blocks);
    }

    /** Token + position embeddings of INT32 ids [B, T]: [B, T, D]. */
    public Tensor embed(Tensor ids) {
        return unitHook == null ? embedBody(ids) : unitHook.around(0, () -> embedBody(ids));
    }

    private Tensor embedBody(Tensor ids) {
        int t = ids.size(1);
        if (t > config.context()) throw new IllegalArgumentException("sequence length " + t + " exceeds context " + config.context());
        Tensor te = tok.forward(ids);
        Tensor pe = F.slice(pos.weight(), 0, 0, t);
        Tensor sum = te.add(pe);
        Tensor x = embDrop.forward(sum);
        te.release();
        pe.release();
        sum.release();
        return x;
    }

    /** Final LayerNorm and LM head: logits [B, T, V]. Does not release {@code x}. */
    public Tensor logits(Tensor x) {
        return unitHook == null ? logitsBody(x) : unitHook.around(blocks.size() + 1, () -> logitsBody(x));
    }

    private Tensor logitsBody(Tensor x) {
        Tensor h = lnf.forward(x);
        Tensor y = head.forward(h);
        h.release();
        return y;
    }

    /** Logits [B, T, V] for ids [B, T]. */
    public Tensor forward(Tensor ids) {
        Tensor x = embed(ids);
        Tensor h = runner.run(Collections.unmodifiableList(blocks), x);
        x.release();
        Tensor y = logits(h);
        h.release();
        return y;
    }

    /** Mean cross-entropy of next-token prediction: ids [B, T], targets [B, T] (INT32). */
    public Tensor loss(Tensor ids, Tensor targets) {
        Tensor y = forward(ids);
        Tensor flat = y.reshape(-1, config.vocab());
        Tensor loss = F.crossEntropy(flat, targets);
        y.release();
        flat.release();
        return loss;
    }
}
