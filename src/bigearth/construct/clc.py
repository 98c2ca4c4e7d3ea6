"""CORINE Land Cover 2018 burned onto the 10 m patch grid: from the vector GeoPackage or from the raster.

Reference maps hold the CLC level-3 code of each 10 m pixel, taken at the pixel centre, and 999 where no CLC
polygon lies (as reBEN's do). Two inputs are accepted:

* the **vector** database (``U2018_CLC2018_V2020_20u1.gpkg``, polygons in EPSG:3035 with the code in the text
  field ``Code_18``): the polygons of a tile are read through the file's spatial index, reprojected to the tile's
  UTM CRS and rasterised so that a pixel takes the code of the polygon that holds its centre;
* the **raster** (any CRS and resolution, e.g. the 100 m ``U2018_CLC2018_V2020_20u1.tif``): each 10 m pixel takes
  the raster value at its centre (nearest neighbour). Values are either the CLC grid index 1..44 (the rank of
  the code in the CLC legend; 48 NODATA and 49/50 "unclassified" become 999) or 3-digit codes.

Any other value is an error that names the file: a code that the 19-class nomenclature does not know would
silently change labels.
"""

from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Literal

import numpy as np
import pyogrio
import rasterio
import shapely
from affine import Affine
from pyogrio.errors import DataSourceError
from pyproj import CRS, Transformer
from rasterio.enums import Resampling
from rasterio.errors import RasterioIOError
from rasterio.features import rasterize
from rasterio.warp import reproject, transform_bounds

from bigearth.construct.grid import Bounds
from bigearth.errors import ConfigError, CorruptDataError, MissingDataError
from bigearth.nomenclature import CLASS_CODES, UNLABELLED_CODES

#: Code of reference-map pixels that no CLC polygon covers.
NO_CLC_CODE = 999
#: The 44 CLC level-3 codes in legend order; the CLC raster's grid index i (1..44) is ``LEVEL3_CODES[i - 1]``.
LEVEL3_CODES: tuple[int, ...] = tuple(
    sorted({code for codes in CLASS_CODES.values() for code in codes} | set(UNLABELLED_CODES) - {NO_CLC_CODE})
)
#: Grid values of the CLC raster without land cover: 48 NODATA, 49 unclassified land, 50 unclassified water.
RASTER_NO_LAND_COVER: tuple[int, ...] = (48, 49, 50)
#: Every code a reference map may hold.
KNOWN_CODES = frozenset(LEVEL3_CODES) | {NO_CLC_CODE}
#: Field names that hold the code in CLC vector files, tried in this order (case-insensitive).
CODE_FIELDS: tuple[str, ...] = ("Code_18", "CODE_18", "clc_code", "code")
#: Margin (m) around a tile's cells when reading CLC polygons.
_READ_MARGIN_M = 100.0


@dataclass(frozen=True)
class ClcSpec:
    """A checked CLC input, cheap to pass to worker processes.

    Attributes:
        path: the CLC file.
        kind: ``"vector"`` or ``"raster"``.
        layer: vector layer name (None for a raster).
        field: vector field holding the 3-digit code (None for a raster).
    """

    path: Path
    kind: Literal["vector", "raster"]
    layer: str | None = None
    field: str | None = None

    @property
    def description(self) -> str:
        """The file, layer and field, for messages."""
        return f"{self.path} (layer {self.layer}, field {self.field})" if self.kind == "vector" else str(self.path)


def parse_codes(values: np.ndarray, *, source: str) -> np.ndarray:
    """Return CLC codes as an int array, checking that each is a known level-3 code (or 999).

    Args:
        values: codes as strings or integers, any shape.
        source: the file (and layer/field) they come from, named in errors.

    Raises:
        CorruptDataError: for a value that is no number or no known CLC code.
    """
    try:
        codes = np.asarray(values).astype(np.float64).astype(np.int64)
    except (TypeError, ValueError) as error:
        raise CorruptDataError(
            f"CLC file {source} holds codes that are no numbers ({error}); give CORINE Land Cover 2018 with "
            "3-digit level-3 codes"
        ) from None
    unknown = sorted({int(code) for code in np.unique(codes)} - KNOWN_CODES)
    if unknown:
        raise CorruptDataError(
            f"CLC file {source} holds codes that are no CORINE Land Cover level-3 code: {unknown[:10]}; give CLC 2018 "
            "(codes 111..523, 999 for no data) or name the code field with --clc-field"
        )
    return codes


def _polygon_layers(path: Path) -> list[str]:
    try:
        layers = pyogrio.list_layers(path)
    except DataSourceError:
        return []
    return [str(name) for name, kind in layers if kind and ("Polygon" in kind or "Surface" in kind)]


def inspect_clc(path: Path, *, layer: str | None = None, field: str | None = None) -> ClcSpec:
    """Check a CLC file and describe it: vector (GeoPackage or any OGR polygon file) or raster.

    Vector files are checked whole for unknown codes (one ``SELECT DISTINCT`` on the code field); rasters are
    checked window by window while building.

    Args:
        path: the CLC file.
        layer: the polygon layer of a vector file (default: its only polygon layer).
        field: the code field (default: the first of :data:`CODE_FIELDS` that the layer has).

    Raises:
        MissingDataError: if the file does not exist.
        ConfigError: if the layer or field cannot be chosen.
        CorruptDataError: if the file is neither a polygon file nor a raster, or holds unknown codes.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingDataError(f"CLC file {path} does not exist; give the CLC 2018 GeoPackage or raster")
    layers = _polygon_layers(path)
    if not layers:
        return _inspect_raster(path)
    if layer is None:
        if len(layers) > 1:
            raise ConfigError(f"CLC file {path} has several polygon layers {layers}; choose one with --clc-layer")
        layer = layers[0]
    elif layer not in layers:
        raise ConfigError(f"CLC file {path} has no polygon layer {layer!r}; its polygon layers are {layers}")
    fields = [str(name) for name in pyogrio.read_info(path, layer=layer)["fields"]]
    if field is None:
        lower = {name.lower(): name for name in fields}
        field = next((lower[name.lower()] for name in CODE_FIELDS if name.lower() in lower), None)
        if field is None:
            raise ConfigError(
                f"CLC file {path} (layer {layer}) has none of the code fields {list(CODE_FIELDS)}; its fields are "
                f"{fields}: name the one with the 3-digit CLC code with --clc-field"
            )
    elif field not in fields:
        raise ConfigError(f"CLC file {path} (layer {layer}) has no field {field!r}; its fields are {fields}")
    spec = ClcSpec(path=path, kind="vector", layer=layer, field=field)
    _meta, _fids, _geometry, values = pyogrio.raw.read(
        path, sql=f'SELECT DISTINCT "{field}" AS code FROM "{layer}"', read_geometry=False
    )
    parse_codes(np.asarray([v for v in values[0] if v is not None]), source=spec.description)
    return spec


def _inspect_raster(path: Path) -> ClcSpec:
    try:
        with rasterio.open(path) as source:
            if source.crs is None or not np.issubdtype(np.dtype(source.dtypes[0]), np.integer):
                raise CorruptDataError(
                    f"CLC file {path} is a raster without a CRS or with non-integer values ({source.dtypes[0]}); "
                    "give the CLC 2018 raster (grid index 1..44 or 3-digit codes) or the vector GeoPackage"
                )
    except RasterioIOError as error:
        raise CorruptDataError(
            f"CLC file {path} is neither a polygon file nor a raster that GDAL reads ({error}); give the CLC 2018 "
            "GeoPackage or raster"
        ) from error
    return ClcSpec(path=path, kind="raster")


class VectorClc(AbstractContextManager):
    """The CLC polygons around one tile, reprojected to the tile's CRS, ready to burn strips of the grid.

    Args:
        spec: the checked vector CLC input.
        epsg: EPSG code of the tile's UTM CRS.
        bounds: the area to read (left, bottom, right, top) in metres in that CRS.
    """

    def __init__(self, spec: ClcSpec, epsg: int, bounds: Bounds) -> None:
        self.spec = spec
        info = pyogrio.read_info(spec.path, layer=spec.layer)
        layer_crs = CRS.from_user_input(info["crs"]) if info["crs"] else CRS.from_epsg(epsg)
        left, bottom, right, top = bounds
        margin = (left - _READ_MARGIN_M, bottom - _READ_MARGIN_M, right + _READ_MARGIN_M, top + _READ_MARGIN_M)
        box = transform_bounds(CRS.from_epsg(epsg), layer_crs, *margin, densify_pts=21)
        _meta, _fids, wkb, values = pyogrio.raw.read(spec.path, layer=spec.layer, bbox=box, columns=[spec.field])
        geometries = shapely.from_wkb(wkb)
        keep = ~shapely.is_missing(geometries) & (values[0] != np.array(None))
        self.codes = parse_codes(values[0][keep], source=spec.description)
        to_tile = Transformer.from_crs(layer_crs, CRS.from_epsg(epsg), always_xy=True)
        self.geometries = shapely.transform(
            geometries[keep], lambda xy: np.column_stack(to_tile.transform(xy[:, 0], xy[:, 1]))
        )
        self.tree = shapely.STRtree(self.geometries)

    def burn(self, transform: Affine, shape: tuple[int, int]) -> np.ndarray:
        """Return the ``shape`` uint16 codes of the polygons at the centres of the pixels of a grid strip."""
        height, width = shape
        left, top = transform.c, transform.f
        area = shapely.box(left, top + transform.e * height, left + transform.a * width, top)
        hits = self.tree.query(area)
        if hits.size == 0:
            return np.full(shape, NO_CLC_CODE, dtype=np.uint16)
        return rasterize(
            zip(self.geometries[hits], self.codes[hits].tolist(), strict=True),
            out_shape=shape,
            transform=transform,
            fill=NO_CLC_CODE,
            dtype="uint16",
        )

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        return None


class RasterClc(AbstractContextManager):
    """An open CLC raster, sampled at the centres of the 10 m pixels of grid strips.

    Args:
        spec: the checked raster CLC input.
        epsg: EPSG code of the tile's UTM CRS.
    """

    def __init__(self, spec: ClcSpec, epsg: int) -> None:
        self.spec = spec
        self.crs = CRS.from_epsg(epsg)
        self.dataset = rasterio.open(spec.path)

    def burn(self, transform: Affine, shape: tuple[int, int]) -> np.ndarray:
        """Return the ``shape`` uint16 codes of the raster at the centres of the pixels of a grid strip."""
        values = np.full(shape, -1, dtype=np.int32)
        reproject(
            source=rasterio.band(self.dataset, 1),
            destination=values,
            dst_transform=transform,
            dst_crs=self.crs,
            dst_nodata=-1,
            resampling=Resampling.nearest,
        )
        grid = (values >= 1) & (values <= RASTER_NO_LAND_COVER[-1])
        if grid.any() and (values >= 100).any():
            raise CorruptDataError(
                f"CLC file {self.spec.path} mixes grid indices (1..50) and 3-digit codes in one area; give a raster "
                "with either the CLC grid index or the 3-digit codes"
            )
        codes = np.where(values < 0, NO_CLC_CODE, values)
        if grid.any():
            table = np.full(RASTER_NO_LAND_COVER[-1] + 1, -1, dtype=np.int64)
            table[1 : len(LEVEL3_CODES) + 1] = LEVEL3_CODES
            table[list(RASTER_NO_LAND_COVER)] = NO_CLC_CODE
            mapped = table[np.clip(values, 0, table.size - 1)]
            unknown = grid & (mapped < 0)
            if unknown.any():
                raise CorruptDataError(
                    f"CLC file {self.spec.path} holds grid values {sorted(set(values[unknown].tolist()))[:10]} that "
                    "are no CLC grid index (1..44, 48..50); give the CLC 2018 raster"
                )
            codes = np.where(grid, mapped, codes)
        parse_codes(np.unique(codes), source=str(self.spec.path))
        return codes.astype(np.uint16)

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.dataset.close()


def open_clc(spec: ClcSpec, epsg: int, bounds: Bounds) -> VectorClc | RasterClc:
    """Open a CLC input for the cells of one tile (use as a context manager)."""
    return VectorClc(spec, epsg, bounds) if spec.kind == "vector" else RasterClc(spec, epsg)
