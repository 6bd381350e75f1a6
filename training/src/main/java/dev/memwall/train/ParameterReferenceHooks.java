package dev.memwall.train;

import dev.memwall.autograd.SavedTensorHooks;
import dev.memwall.autograd.Tensor;

/**
 * Saved-tensor hooks pushed around a stage-3 unit's forward: a tensor lying in a gathered unit's buffer is saved as a
 * reference (unit, offset, shape), not kept, so no node holds a gathered unit alive; backward unpacks it from whatever
 * buffer holds the unit then. Every other tensor goes to the hooks that were active outside (checkpointing's
 * placeholders, selective recipes).
 */
final class ParameterReferenceHooks implements SavedTensorHooks {
    /** The side that knows which buffers are gathered units: {@link ParameterShards}. */
    interface GatheredUnits {
        /** The unit whose gathered buffer {@code t} lies in, or -1. */
        int unitHolding(Tensor t);

        /** {@code t}'s offset within its unit's gathered buffer. */
        int offsetInUnit(int unit, Tensor t);

        /** A view of the unit's gathered parameters at (offset, shape), gathering the unit first if it is not. */
        Tensor view(int unit, int offset, int[] shape);

        /** Called on every unpack: a chance to finish collectives that completed meanwhile. */
        void progress();
    }

    /** A saved parameter (or a view of one): where in its unit's gathered buffer it lies. */
    private record ParamRef(int unit, int offset, int[] shape) {
    }

    private final GatheredUnits units;
    private final SavedTensorHooks outer;

    ParameterReferenceHooks(GatheredUnits units, SavedTensorHooks outer) {
        this.units = units;
        this.outer = outer;
    }

    @Override
    public Object pack(Tensor t) {
        int u = units.unitHolding(t);
        if (u >= 0) return new ParamRef(u, units.offsetInUnit(u, t), t.shape().clone());
        return outer == null ? t : outer.pack(t);
    }

    @Override
    public Tensor unpack(Object packed) {
        units.progress();
        if (packed instanceof ParamRef r) return units.view(r.unit(), r.offset(), r.shape());
        return outer == null ? (Tensor) packed : outer.unpack(packed);
    }

    @Override
    public void release(Object packed) {
        if (!(packed instanceof ParamRef) && outer != null) outer.release(packed);
    }
}
