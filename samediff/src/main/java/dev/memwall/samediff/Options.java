package dev.memwall.samediff;

import java.util.List;

/** The peer's command line, as torch_gpt.py and djl-gpt take it: {@code --name value} or {@code --name=value}. */
final class Options {
    int batch = 16, ctx = 128, dim = 256, heads = 4, layers = 6, steps = 10, warmup = 1, threads = 2;
    GptGraph.Gelu gelu = GptGraph.Gelu.TANH;
    boolean log, gc = true;

    private static final List<String> VALUED = List.of("--batch", "--ctx", "--dim", "--heads", "--layers", "--steps",
            "--warmup", "--threads", "--gelu");

    static Options parse(String... args) {
        Options o = new Options();
        for (int i = 0; i < args.length; i++) {
            String[] kv = args[i].split("=", 2);
            String name = kv[0];
            if (name.equals("--log") || name.equals("--no-gc")) {
                if (name.equals("--log")) o.log = true;
                else o.gc = false;
                continue;
            }
            if (!VALUED.contains(name)) {
                throw new IllegalArgumentException("unknown option " + name + " (options: " + String.join(" ", VALUED) + " --no-gc --log)");
            }
            String value = kv.length > 1 ? kv[1] : i + 1 < args.length ? args[++i] : null;
            if (value == null) throw new IllegalArgumentException(name + " needs a value");
            if (name.equals("--gelu")) {
                if (!value.equals("tanh") && !value.equals("sigmoid")) {
                    throw new IllegalArgumentException("--gelu takes tanh (memwall's form) or sigmoid (ND4J's x·σ(1.702x)), not " + value);
                }
                o.gelu = value.equals("tanh") ? GptGraph.Gelu.TANH : GptGraph.Gelu.SIGMOID;
                continue;
            }
            int n;
            try {
                n = Integer.parseInt(value);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException(name + " takes a number, not " + value);
            }
            if (n < (name.equals("--warmup") || name.equals("--layers") ? 0 : 1)) {
                throw new IllegalArgumentException(name + " must be " + (name.equals("--warmup") || name.equals("--layers") ? ">= 0" : ">= 1") + ", not " + n);
            }
            switch (name) {
                case "--batch" -> o.batch = n;
                case "--ctx" -> o.ctx = n;
                case "--dim" -> o.dim = n;
                case "--heads" -> o.heads = n;
                case "--layers" -> o.layers = n;
                case "--steps" -> o.steps = n;
                case "--warmup" -> o.warmup = n;
                default -> o.threads = n;
            }
        }
        return o;
    }
}
