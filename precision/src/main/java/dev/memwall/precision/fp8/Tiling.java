package dev.memwall.precision.fp8;

/**
 * The tiles that share one scale, over a tensor seen as a 2-D matrix [rows, cols] (cols = the last dimension): a tile
 * covers {@code tileRows × tileCols} elements; edge tiles may be smaller. Per-tensor scaling is one tile of everything.
 */
public record Tiling(int tileRows, int tileCols) {
    /** One scale for the whole tensor. */
    public static final Tiling PER_TENSOR = new Tiling(Integer.MAX_VALUE, Integer.MAX_VALUE);

    public Tiling {
        if (tileRows < 1 || tileCols < 1) {
            throw new IllegalArgumentException("tiling: tile sides must be at least 1, got " + tileRows + "×" + tileCols);
        }
    }

    /** Tiles along the rows of a [rows, cols] matrix (rows ≥ 1). */
    public int tilesDown(int rows) {
        return rows == 0 ? 0 : (rows - 1) / tileRows + 1;
    }

    /** Tiles along the columns of a [rows, cols] matrix. */
    public int tilesAcross(int cols) {
        return cols == 0 ? 0 : (cols - 1) / tileCols + 1;
    }

    public boolean perTensor() {
        return tileRows == Integer.MAX_VALUE && tileCols == Integer.MAX_VALUE;
    }

    @Override
    public String toString() {
        return perTensor() ? "per-tensor" : tileRows + "x" + tileCols;
    }
}
