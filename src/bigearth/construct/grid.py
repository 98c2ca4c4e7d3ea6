"""The reBEN patch grid of an S2 tile: 1200 m cells numbered from the tile's upper-left corner.

The grid comes from the tile metadata (``MTD_TL.xml``), not from the image: a tile is 109,800 m square, cut into
91 x 91 complete cells of 1200 m (the incomplete last row and column are dropped, :data:`GRID_SIZE`). A product
whose image covers only part of the tile (as the synthetic test products do) has patches only where the image
covers whole cells; the numbering and the split stay those of the full tile.
"""

from dataclasses import dataclass

import numpy as np
from affine import Affine
from rasterio.windows import Window

from bigearth.construct.safe import TileGeocoding
from bigearth.data.geo import GRID_SIZE, PATCH_SIZE_M, PIXEL_SIZE_M, TILE_SIZE_M, geographic_split
from bigearth.errors import CorruptDataError

#: Bounds (left, bottom, right, top) in metres.
Bounds = tuple[float, float, float, float]


def overlaps(a: Bounds, b: Bounds) -> bool:
    """Return whether two bounds (left, bottom, right, top) share an area."""
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


@dataclass(frozen=True)
class CellBlock:
    """A rectangle of grid cells: columns ``x0 .. x0 + columns - 1``, rows ``y0 .. y0 + rows - 1``."""

    x0: int
    y0: int
    columns: int
    rows: int

    @property
    def count(self) -> int:
        """Number of cells in the block."""
        return self.columns * self.rows


@dataclass(frozen=True)
class TileGrid:
    """The patch grid of one S2 tile in its UTM CRS.

    Attributes:
        mgrs_tile: MGRS tile without the ``T``, e.g. ``"33UUP"``.
        epsg: EPSG code of the tile's UTM CRS.
        ulx: easting of the tile's upper-left corner, metres.
        uly: northing of the tile's upper-left corner, metres.
    """

    mgrs_tile: str
    epsg: int
    ulx: float
    uly: float

    @classmethod
    def from_geocoding(cls, mgrs_tile: str, geocoding: TileGeocoding, *, source: str) -> "TileGrid":
        """Build the grid of a tile from its metadata.

        Raises:
            CorruptDataError: if the metadata does not describe a 109,800 m tile.
        """
        if geocoding.size_m != TILE_SIZE_M:
            raise CorruptDataError(
                f"{source}: the tile metadata gives a {geocoding.size_m:.0f} m tile; every Sentinel-2 tile is "
                f"{TILE_SIZE_M} m (10,980 px at 10 m), and reBEN's grid and split assume it"
            )
        return cls(mgrs_tile=mgrs_tile, epsg=geocoding.epsg, ulx=geocoding.ulx, uly=geocoding.uly)

    def cell_origin(self, x: int, y: int) -> tuple[float, float]:
        """Return the upper-left corner (easting, northing) in metres of cell (x, y)."""
        return self.ulx + PATCH_SIZE_M * x, self.uly - PATCH_SIZE_M * y

    def cell_centres(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return the centres (eastings, northings) in metres of cells ``(x, y)``, arrays of the same shape."""
        east = self.ulx + PATCH_SIZE_M * np.asarray(x, dtype=np.float64) + PATCH_SIZE_M / 2
        north = self.uly - PATCH_SIZE_M * np.asarray(y, dtype=np.float64) - PATCH_SIZE_M / 2
        return east, north

    def cells_inside(self, bounds: Bounds) -> CellBlock | None:
        """Return the block of complete grid cells that lie inside ``bounds``, or None if there is none."""
        left, bottom, right, top = bounds
        x0 = max(0, int(np.ceil((left - self.ulx) / PATCH_SIZE_M - 1e-9)))
        x1 = min(GRID_SIZE, int(np.floor((right - self.ulx) / PATCH_SIZE_M + 1e-9)))
        y0 = max(0, int(np.ceil((self.uly - top) / PATCH_SIZE_M - 1e-9)))
        y1 = min(GRID_SIZE, int(np.floor((self.uly - bottom) / PATCH_SIZE_M + 1e-9)))
        if x1 <= x0 or y1 <= y0:
            return None
        return CellBlock(x0=x0, y0=y0, columns=x1 - x0, rows=y1 - y0)

    def block_bounds(self, block: CellBlock) -> Bounds:
        """Return the bounds (left, bottom, right, top) in metres of a block of cells."""
        left, top = self.cell_origin(block.x0, block.y0)
        return left, top - PATCH_SIZE_M * block.rows, left + PATCH_SIZE_M * block.columns, top

    def strip_transform(self, block: CellBlock, y: int, gsd: int = PIXEL_SIZE_M) -> Affine:
        """Return the affine transform of row ``y`` of a block of cells at ``gsd`` metres per pixel."""
        left, top = self.cell_origin(block.x0, y)
        return Affine(gsd, 0.0, left, 0.0, -gsd, top)

    def strip_window(self, block: CellBlock, y: int, raster: Affine) -> Window:
        """Return the window of row ``y`` of a block in a north-up raster aligned with the grid.

        Args:
            block: the block of cells.
            y: the grid row.
            raster: the raster's affine transform (its pixel size is the band's resolution).
        """
        gsd = raster.a
        left, top = self.cell_origin(block.x0, y)
        column, row = round((left - raster.c) / gsd), round((raster.f - top) / gsd)
        size = round(PATCH_SIZE_M / gsd)
        return Window(column, row, size * block.columns, size)

    def split(self, x: np.ndarray | int, y: np.ndarray | int) -> np.ndarray:
        """Return the reBEN split of cells ``(x, y)`` (the geographic rule of :func:`geo.geographic_split`)."""
        return geographic_split(x, y)
