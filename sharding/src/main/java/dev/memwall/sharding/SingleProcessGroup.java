package dev.memwall.sharding;

import dev.memwall.memory.MemoryTracker;

/**
 * World size 1: a sum over one rank is the buffer itself, so all-reduce, broadcast and barrier do nothing,
 * reduce-scatter and all-gather copy (unless in place). Calls are counted with zero bytes.
 */
final class SingleProcessGroup implements ProcessGroup {
    private final CommCounters counters = new CommCounters();

    @Override
    public int rank() {
        return 0;
    }

    @Override
    public int worldSize() {
        return 1;
    }

    @Override
    public String backend() {
        return "none";
    }

    @Override
    public Work allReduceAsync(float[] buf, int off, int len) {
        Checks.range("allReduce", "buf", buf, off, len);
        return counted();
    }

    @Override
    public Work allReduceMaxAsync(float[] buf, int off, int len) {
        Checks.range("allReduceMax", "buf", buf, off, len);
        return counted(); // the maximum over one rank is its value
    }

    @Override
    public Work reduceScatterAsync(float[] in, int inOff, float[] out, int outOff, int shard) {
        Checks.shard("reduceScatter", shard, 1);
        Checks.range("reduceScatter", "in", in, inOff, shard);
        Checks.range("reduceScatter", "out", out, outOff, shard);
        Checks.inPlaceOrDisjoint("reduceScatter", in, inOff, out, outOff, shard, 1, 0);
        System.arraycopy(in, inOff, out, outOff, shard);
        return counted();
    }

    @Override
    public Work allGatherAsync(float[] in, int inOff, float[] out, int outOff, int shard) {
        Checks.shard("allGather", shard, 1);
        Checks.range("allGather", "in", in, inOff, shard);
        Checks.range("allGather", "out", out, outOff, shard);
        Checks.inPlaceOrDisjoint("allGather", out, outOff, in, inOff, shard, 1, 0);
        System.arraycopy(in, inOff, out, outOff, shard);
        return counted();
    }

    @Override
    public Work allGather16Async(short[] in, int inOff, short[] out, int outOff, int shard) {
        Checks.shard("allGather16", shard, 1);
        Checks.range("allGather16", "in", in, inOff, shard);
        Checks.range("allGather16", "out", out, outOff, shard);
        Checks.inPlaceOrDisjoint("allGather16", out, outOff, in, inOff, shard, 1, 0);
        System.arraycopy(in, inOff, out, outOff, shard);
        return counted();
    }

    @Override
    public Work reduceScatter16Async(short[] in, int inOff, short[] out, int outOff, int shard, HalfFormat format) {
        Checks.format("reduceScatter16", format);
        Checks.shard("reduceScatter16", shard, 1);
        Checks.range("reduceScatter16", "in", in, inOff, shard);
        Checks.range("reduceScatter16", "out", out, outOff, shard);
        Checks.inPlaceOrDisjoint("reduceScatter16", in, inOff, out, outOff, shard, 1, 0);
        System.arraycopy(in, inOff, out, outOff, shard); // a sum over one rank is its value: nothing is re-rounded
        return counted();
    }

    @Override
    public Work allReduce16Async(short[] buf, int off, int len, HalfFormat format) {
        Checks.format("allReduce16", format);
        Checks.range("allReduce16", "buf", buf, off, len);
        return counted();
    }

    @Override
    public Work broadcastAsync(float[] buf, int off, int len, int root) {
        Checks.range("broadcast", "buf", buf, off, len);
        Checks.root("broadcast", root, 1);
        return counted();
    }

    @Override
    public Work barrierAsync() {
        return counted();
    }

    @Override
    public CommCounters counters() {
        return counters;
    }

    @Override
    public void close() {
    }

    private Work counted() {
        counters.record(MemoryTracker.current().phase(), new CommTotals(1, 0, 0, 0, 0, 0));
        return Work.done();
    }
}
