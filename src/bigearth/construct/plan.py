"""Planning a build: checking every input up front and pairing S2 tiles with S1 scenes, before any pixel work.

Bad input fails here, fast and with a message that names it: a product missing a band, a band whose CRS or grid
disagrees with the tile metadata, an S1 scene that overlaps none of the tiles (or a tile that none overlaps),
a CLC file with unknown codes, the same tile or scene given twice.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import rasterio

from bigearth.bands import BAND_GSD
from bigearth.construct.clc import ClcSpec, inspect_clc
from bigearth.construct.grid import Bounds, CellBlock, TileGrid, overlaps
from bigearth.construct.options import BuildOptions
from bigearth.construct.s1 import S1Scene, inspect_scene
from bigearth.construct.safe import SCL, SCL_GSD, S2Product, read_product
from bigearth.construct.tile import TileJob
from bigearth.data.geo import tile_origin, utm_epsg
from bigearth.errors import ConfigError, CorruptDataError, MissingDataError


@dataclass(frozen=True)
class BuildPlan:
    """The checked inputs of a build and one job per tile.

    Attributes:
        jobs: one job per S2 product, in input order.
        scenes: every S1 scene.
        clc: the CLC input.
    """

    jobs: tuple[TileJob, ...]
    scenes: tuple[S1Scene, ...]
    clc: ClcSpec


def _is_product(path: Path) -> bool:
    return path.suffix == ".SAFE" or (path / "MTD_MSIL2A.xml").is_file() or (path / "GRANULE").is_dir()


def expand_products(paths: Sequence[Path]) -> list[Path]:
    """Return the S2 product folders named by ``paths``: products themselves, or folders holding products.

    Raises:
        MissingDataError: for a path that does not exist or holds no product.
    """
    products: list[Path] = []
    for path in map(Path, paths):
        if not path.is_dir():
            raise MissingDataError(f"S2 product {path} does not exist or is no folder; give unzipped .SAFE folders")
        found = [path] if _is_product(path) else sorted(p for p in path.iterdir() if p.is_dir() and _is_product(p))
        if not found:
            raise MissingDataError(f"{path} is no S2 L2A product and holds none; give unzipped .SAFE folders")
        products.extend(found)
    return products


def expand_scenes(paths: Sequence[Path]) -> list[Path]:
    """Return the S1 GeoTIFFs named by ``paths``: files, or folders holding ``*.tif`` / ``*.tiff`` files.

    Raises:
        MissingDataError: for a path that does not exist or a folder without GeoTIFFs.
    """
    scenes: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix.lower() in (".tif", ".tiff"))
            if not found:
                raise MissingDataError(f"{path} holds no S1 GeoTIFF (*.tif); give terrain-corrected S1 scenes")
            scenes.extend(found)
        else:
            scenes.append(path)
    return scenes


#: Georeferences that differ by less than this (m) are equal (JP2 headers store coordinates as text).
_TOLERANCE_M = 1e-3


def _on_grid(offset: float, gsd: float) -> bool:
    """Return whether ``offset`` metres is a whole number of ``gsd`` pixels."""
    return abs(offset / gsd - round(offset / gsd)) * gsd < _TOLERANCE_M


def _image_bounds(product: S2Product, epsg: int, grid: TileGrid) -> Bounds:
    """Check every band file against the tile metadata; return the area that all of them cover.

    Raises:
        CorruptDataError: for a band whose CRS, pixel size or alignment disagrees with the tile metadata.
    """
    left, bottom, right, top = -float("inf"), -float("inf"), float("inf"), float("inf")
    tile_right, tile_bottom = grid.ulx + product.geocoding.size_m, grid.uly - product.geocoding.size_m
    for band, path in product.band_files.items():
        gsd = SCL_GSD if band == SCL else BAND_GSD[band]
        with rasterio.open(path) as source:
            file_epsg = source.crs.to_epsg() if source.crs else None
            transform, bounds = source.transform, source.bounds
        where = f"S2 product {product.path}: band {band} ({path.name})"
        if file_epsg != epsg:
            raise CorruptDataError(
                f"{where} is in {f'EPSG:{file_epsg}' if file_epsg else 'no CRS'} but the tile metadata (MTD_TL.xml) "
                f"says EPSG:{epsg}; the product is inconsistent: re-download it"
            )
        if (transform.a, transform.e, transform.b, transform.d) != (gsd, -gsd, 0, 0):
            raise CorruptDataError(f"{where} has pixels of {transform.a} x {-transform.e} m, expected {gsd} m north-up")
        aligned = _on_grid(bounds.left - grid.ulx, gsd) and _on_grid(grid.uly - bounds.top, gsd)
        inside = bounds.left >= grid.ulx - _TOLERANCE_M and bounds.top <= grid.uly + _TOLERANCE_M
        inside = inside and bounds.right <= tile_right + _TOLERANCE_M and bounds.bottom >= tile_bottom - _TOLERANCE_M
        if not (aligned and inside):
            raise CorruptDataError(
                f"{where} covers {tuple(bounds)}, which is not on the {gsd} m grid of the tile in the metadata "
                f"(upper-left corner {grid.ulx}, {grid.uly}); the product is inconsistent: re-download it"
            )
        left, bottom = max(left, bounds.left), max(bottom, bounds.bottom)
        right, top = min(right, bounds.right), min(top, bounds.top)
    return left, bottom, right, top


def grid_and_block(product: S2Product) -> tuple[TileGrid, CellBlock | None, tuple[str, ...]]:
    """Return a product's tile grid, the grid cells its image covers whole, and notes on its metadata.

    Raises:
        CorruptDataError: if the tile metadata disagrees with the tile name or a band file.
    """
    epsg = product.geocoding.epsg
    if epsg != utm_epsg(product.mgrs_tile):
        raise CorruptDataError(
            f"S2 product {product.path}: the tile metadata (MTD_TL.xml) says EPSG:{epsg}, but tile "
            f"T{product.mgrs_tile} lies in EPSG:{utm_epsg(product.mgrs_tile)}; the product is inconsistent"
        )
    grid = TileGrid.from_geocoding(product.mgrs_tile, product.geocoding, source=f"S2 product {product.path}")
    warnings = ()
    expected = tile_origin(product.mgrs_tile)
    if (grid.ulx, grid.uly) != expected:
        warnings = (
            f"the tile metadata puts the upper-left corner at ({grid.ulx}, {grid.uly}), the MGRS grid at "
            f"{expected}; patches follow the metadata, patch coordinates in bigearth.data follow the MGRS grid",
        )
    return grid, grid.cells_inside(_image_bounds(product, epsg, grid)), warnings


def plan_build(
    s2: Sequence[Path],
    s1: Sequence[Path],
    clc: Path,
    out: Path,
    options: BuildOptions,
    *,
    clc_layer: str | None = None,
    clc_field: str | None = None,
) -> BuildPlan:
    """Check the inputs of a build and make one job per tile.

    Args:
        s2: S2 L2A product folders (or folders holding them).
        s1: terrain-corrected S1 GeoTIFFs (or folders holding them).
        clc: the CLC 2018 GeoPackage or raster.
        out: the build output folder.
        options: the build options.
        clc_layer: the CLC polygon layer, if the file has several.
        clc_field: the CLC code field, if not ``Code_18``.

    Raises:
        MissingDataError: for a missing input, band or metadata file.
        CorruptDataError: for inconsistent products, unreadable scenes or unknown CLC codes.
        ConfigError: for inputs that do not fit together (duplicates, S1 scenes and S2 tiles that do not overlap).
    """
    products = [read_product(path) for path in expand_products(s2)]
    scenes = tuple(inspect_scene(path) for path in expand_scenes(s1))
    if not products or not scenes:
        raise ConfigError("a build needs at least one S2 product (--s2) and one S1 scene (--s1)")
    clc_spec = inspect_clc(clc, layer=clc_layer, field=clc_field)
    for kind, names in (
        ("S2 tile", [p.tile_name(keep_baseline=options.keep_baseline) for p in products]),
        ("S1 scene", [scene.scene for scene in scenes]),
    ):
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ConfigError(f"the {kind}(s) {twice} are given twice; give each input once")
    jobs, used = [], set()
    for product in products:
        grid, block, warnings = grid_and_block(product)
        overlapping: tuple[S1Scene, ...] = ()
        if block is not None:
            area = grid.block_bounds(block)
            overlapping = tuple(scene for scene in scenes if overlaps(scene.footprint(grid.epsg), area))
            if not overlapping:
                raise ConfigError(
                    f"S2 product {product.path}: none of the S1 scenes {[str(s.path) for s in scenes]} overlaps its "
                    "image; add the S1 scene of this tile, or leave the product out"
                )
            overlapping = tuple(sorted(overlapping, key=lambda s: abs(s.sensing_time - product.sensing_time)))
        used.update(scene.scene for scene in overlapping)
        jobs.append(TileJob(product, grid, block, overlapping, clc_spec, Path(out), options, warnings))
    unused = [str(scene.path) for scene in scenes if scene.scene not in used]
    if unused:
        raise ConfigError(
            f"the S1 scene(s) {unused} overlap none of the S2 tiles; check that each scene belongs to one of the "
            "given products (terrain-corrected, with a correct CRS), or leave it out"
        )
    return BuildPlan(jobs=tuple(jobs), scenes=scenes, clc=clc_spec)
