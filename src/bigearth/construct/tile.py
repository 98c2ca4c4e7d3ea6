"""Cutting one S2 tile into reBEN patches: the per-tile pipeline that a worker runs.

For each row of 1200 m grid cells inside the image (one strip of 120 px at 10 m), the pipeline

1. reads the 12 bands at native resolution and the SCL layer, and brings the bands to reBEN's radiometry;
2. burns CLC at the 10 m pixel centres (reference maps) and maps the codes to the 19 classes;
3. drops, in this order and counted under the first reason that applies: patches with any S2 nodata pixel
   (``nodata``), patches with 25 % or more unlabelled pixels (``unlabelled``), patches that no S1 scene covers
   whole (``no_s1``);
4. labels each remaining patch with every class present, flags seasonal snow and cloud/shadow from the SCL,
   gives it its split (geographic rule), country and season;
5. writes its GeoTIFFs (12 S2 bands, VV and VH, the reference map) into the tile's staging folder.

The tile is then committed into the output by :mod:`bigearth.construct.state`. Datasets are opened here, in the
worker process, from paths: nothing GDAL holds crosses a process boundary.
"""

import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import rasterio
from pyproj import Transformer
from rasterio.io import DatasetReader

from bigearth.bands import IMAGE_SIZE, S1_BANDS, S2_BANDS, native_size
from bigearth.construct import state
from bigearth.construct.clc import ClcSpec, RasterClc, VectorClc, open_clc
from bigearth.construct.country import country_of
from bigearth.construct.grid import Bounds, CellBlock, TileGrid, overlaps
from bigearth.construct.options import UNLABELLED_LIMIT, BuildOptions
from bigearth.construct.quality import quality_fractions
from bigearth.construct.radiometry import REBEN_SCALE, to_reben
from bigearth.construct.s1 import S1Scene, reproject_strip
from bigearth.construct.safe import SCL, SCL_GSD, S2Product
from bigearth.data.geo import GRID_SIZE
from bigearth.data.geotiff import write_band
from bigearth.data.layout import (
    METADATA_SCHEMA,
    S1PatchName,
    S2PatchName,
    reference_map_path,
    s1_band_path,
    s2_band_path,
    season,
)
from bigearth.nomenclature import IGNORE_INDEX, clc_to_index, labels_from_codes

#: Why a candidate patch is not in the output, in the order the reasons are tested.
DROP_REASONS: tuple[str, ...] = ("nodata", "unlabelled", "no_s1")
#: Columns of the per-patch build record beside the official metadata columns.
EXTRA_COLUMNS: tuple[str, ...] = (
    "tile",
    "x",
    "y",
    "s2_product",
    "s1_scene",
    "sensing_time",
    "season",
    "latitude",
    "longitude",
    "unlabelled_fraction",
    "snow_fraction",
    "cloud_or_shadow_fraction",
)
#: GDAL block cache of a worker (bytes, as rasterio takes it): holds a row of decoded JP2 tiles of every band,
#: so that the strips of one JP2 tile row are decoded once.
GDAL_CACHE_BYTES = 512 * 2**20

#: Called as ``progress(patches_examined, candidate_patches)`` after each row of the tile's grid.
TileProgress = Callable[[int, int], None]


@dataclass(frozen=True)
class TileJob:
    """Everything a worker needs to cut one tile: paths and small descriptions, no open datasets.

    Attributes:
        product: the S2 product.
        grid: the tile's patch grid (from the tile metadata).
        block: the grid cells that the image covers whole, or None.
        scenes: the S1 scenes that overlap the cells, closest in time to the S2 acquisition first.
        clc: the CLC input.
        out: the build output folder.
        options: the build options.
        warnings: notes on the inputs found while planning, recorded with the tile.
    """

    product: S2Product
    grid: TileGrid
    block: CellBlock | None
    scenes: tuple[S1Scene, ...]
    clc: ClcSpec
    out: Path
    options: BuildOptions
    warnings: tuple[str, ...] = ()

    @property
    def tile(self) -> str:
        """The reBEN tile name of the product (``N9999`` unless the options keep the baseline)."""
        return self.product.tile_name(keep_baseline=self.options.keep_baseline)


def split_patches(strip: np.ndarray, size: int) -> np.ndarray:
    """Cut a strip of patches into patches.

    Args:
        strip: ``(..., size, columns * size)`` array, the leading axes kept (e.g. VV/VH).
        size: patch side in pixels.

    Returns:
        ``(columns, ..., size, size)`` view of the strip.
    """
    *lead, height, width = strip.shape
    return np.moveaxis(strip.reshape(*lead, height, width // size, size), -2, 0)


def label_patches(codes: np.ndarray) -> tuple[list[list[str]], np.ndarray]:
    """Derive reBEN labels and the unlabelled fraction of reference maps.

    Args:
        codes: ``(n, 120, 120)`` CLC level-3 codes (999 where no polygon lies).

    Returns:
        The sorted class names present in each map (one pixel is enough), and the ``(n,)`` fraction of
        unlabelled pixels (codes of no class).
    """
    unlabelled = (clc_to_index(codes) == IGNORE_INDEX).mean(axis=(1, 2))
    return [labels_from_codes(patch) for patch in codes], unlabelled


def radiometry_record(product: S2Product) -> dict[str, Any]:
    """Return how a product's values were brought to reBEN's radiometry (recorded per tile)."""
    applied = any(product.offsets.values()) or product.quantification != REBEN_SCALE
    return {
        "processing_baseline": product.baseline,
        "boa_add_offset": dict(product.offsets),
        "offset_source": product.offset_source,
        "quantification": product.quantification,
        "applied": applied,
    }


def process_tile(job: TileJob, progress: TileProgress | None = None) -> dict[str, Any]:
    """Cut, write and commit one tile; a tile already committed is not cut again.

    Args:
        job: the tile job.
        progress: called after each row of grid cells.

    Returns:
        The tile's counts (JSON-ready): candidates, drops per reason, kept and flagged patches, radiometry.

    Raises:
        CorruptDataError: naming the file, for unreadable inputs or unknown CLC codes; the tile's staging
            folder is removed and nothing of the tile appears in the output.
    """
    tile = job.tile
    if state.recover(job.out, tile):
        return state.load_tile(job.out, tile)[0]
    staging = state.new_staging(job.out, tile)
    try:
        start = time.perf_counter()
        rows, counts = _cut(job, staging, progress)
        counts["seconds"] = round(time.perf_counter() - start, 3)
        state.commit(job.out, tile, staging, rows, counts)
    except BaseException:
        state.discard(job.out, tile)
        raise
    return counts


def _cut(job: TileJob, staging: Path, progress: TileProgress | None) -> tuple[pd.DataFrame, dict[str, Any]]:
    block = job.block
    counts: dict[str, Any] = {
        "tile": job.tile,
        "product": job.product.name,
        "grid_cells": GRID_SIZE * GRID_SIZE,
        "candidates": 0 if block is None else block.count,
        **dict.fromkeys(DROP_REASONS, 0),
        "kept": 0,
        "seasonal_snow": 0,
        "cloud_or_shadow": 0,
        "s1_scenes": [scene.scene for scene in job.scenes],
        "radiometry": radiometry_record(job.product),
        "warnings": list(job.warnings),
    }
    rows: list[dict[str, Any]] = []
    if block is not None:
        with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_BYTES), ExitStack() as stack:
            bands = {band: stack.enter_context(rasterio.open(path)) for band, path in job.product.band_files.items()}
            scenes = [
                (scene, stack.enter_context(rasterio.open(scene.path)), scene.footprint(job.grid.epsg))
                for scene in job.scenes
            ]
            clc = stack.enter_context(open_clc(job.clc, job.grid.epsg, job.grid.block_bounds(block)))
            places = _places(job, block)
            for index, y in enumerate(range(block.y0, block.y0 + block.rows)):
                rows.extend(_cut_row(job, block, y, bands, scenes, clc, staging, counts, places))
                if progress is not None:
                    progress((index + 1) * block.columns, block.count)
    columns = [*METADATA_SCHEMA.names, *EXTRA_COLUMNS]
    return pd.DataFrame(rows, columns=columns), counts


def _places(job: TileJob, block: CellBlock) -> dict[str, np.ndarray]:
    """Return latitude, longitude and country of every cell of the block, ``(rows, columns)`` arrays."""
    x, y = np.meshgrid(np.arange(block.x0, block.x0 + block.columns), np.arange(block.y0, block.y0 + block.rows))
    east, north = job.grid.cell_centres(x, y)
    lon, lat = Transformer.from_crs(job.grid.epsg, 4326, always_xy=True).transform(east, north)
    country = country_of(lat.ravel(), lon.ravel(), job.options.countries).reshape(lat.shape)
    return {"latitude": lat, "longitude": lon, "country": country}


def _read_strip(dataset: DatasetReader, job: TileJob, block: CellBlock, y: int, size: int) -> np.ndarray:
    """Return the patches of one grid row of a band, ``(columns, size, size)``."""
    return split_patches(dataset.read(1, window=job.grid.strip_window(block, y, dataset.transform)), size)


#: An open S1 scene: its description, its dataset and its footprint in the tile's CRS.
OpenScene = tuple[S1Scene, DatasetReader, Bounds]


def _pair_s1(
    job: TileJob, scenes: list[OpenScene], block: CellBlock, y: int, wanted: np.ndarray
) -> list[tuple[S1Scene, np.ndarray] | None]:
    """Return, per cell of a grid row, the first scene (closest in time) that covers it whole and its values."""
    chosen: list[tuple[S1Scene, np.ndarray] | None] = [None] * block.columns
    row = CellBlock(block.x0, y, block.columns, 1)
    for scene, dataset, footprint in scenes:
        need = wanted & np.array([choice is None for choice in chosen])
        if not need.any():
            break
        if not overlaps(footprint, job.grid.block_bounds(row)):
            continue
        shape = (IMAGE_SIZE, IMAGE_SIZE * block.columns)
        values = split_patches(
            reproject_strip(dataset, scene, job.grid.epsg, job.grid.strip_transform(block, y), shape), IMAGE_SIZE
        )
        covered = np.isfinite(values).all(axis=(1, 2, 3))
        for column in np.flatnonzero(need & covered):
            chosen[column] = (scene, values[column])
    return chosen


def _write_patch(
    staging: Path,
    grid: TileGrid,
    cell: tuple[int, int],
    names: tuple[str, str],
    s2: dict[str, np.ndarray],
    s1: np.ndarray,
    reference_map: np.ndarray,
) -> None:
    """Write one patch's GeoTIFFs under ``staging`` in the official layout, georeferenced on the tile grid.

    Args:
        staging: the tile's staging folder.
        grid: the tile grid.
        cell: the cell (x, y).
        names: the S2 patch id and the S1 patch name.
        s2: uint16 reBEN values of each S2 band at native size.
        s1: ``(2, 120, 120)`` float32 dB, VV and VH.
        reference_map: ``(120, 120)`` uint16 CLC codes.
    """
    patch_id, s1_name = names
    place = {"epsg": grid.epsg, "origin": grid.cell_origin(*cell)}
    for band, array in s2.items():
        write_band(s2_band_path(staging, patch_id, band), np.ascontiguousarray(array), nodata=0, **place)
    for index, band in enumerate(S1_BANDS):
        write_band(s1_band_path(staging, s1_name, band), np.ascontiguousarray(s1[index]), nodata=None, **place)
    map_path = reference_map_path(staging, patch_id)
    write_band(map_path, np.ascontiguousarray(reference_map), nodata=0, compress="deflate", **place)


def _cut_row(
    job: TileJob,
    block: CellBlock,
    y: int,
    bands: dict[str, DatasetReader],
    scenes: list[OpenScene],
    clc: VectorClc | RasterClc,
    staging: Path,
    counts: dict[str, Any],
    places: dict[str, np.ndarray],
) -> list[dict[str, Any]]:
    """Cut one row of grid cells: decide each candidate patch, write the kept ones, return their rows."""
    grid, product = job.grid, job.product
    values = {}
    for band in S2_BANDS:
        dn = _read_strip(bands[band], job, block, y, native_size(band))
        values[band] = to_reben(dn, offset=product.offsets[band], quantification=product.quantification)
    scl = _read_strip(bands[SCL], job, block, y, IMAGE_SIZE * 10 // SCL_GSD)
    codes = split_patches(
        clc.burn(grid.strip_transform(block, y), (IMAGE_SIZE, IMAGE_SIZE * block.columns)), IMAGE_SIZE
    )
    nodata = np.zeros(block.columns, dtype=bool)
    for band in S2_BANDS:
        nodata |= (values[band] == 0).any(axis=(1, 2))
    labels, unlabelled = label_patches(codes)
    too_unlabelled = ~nodata & (unlabelled >= UNLABELLED_LIMIT)
    s1 = _pair_s1(job, scenes, block, y, ~nodata & ~too_unlabelled)
    no_s1 = ~nodata & ~too_unlabelled & np.array([choice is None for choice in s1])
    counts["nodata"] += int(nodata.sum())
    counts["unlabelled"] += int(too_unlabelled.sum())
    counts["no_s1"] += int(no_s1.sum())
    fractions = quality_fractions(scl, codes)
    thresholds = job.options.thresholds
    rows = []
    for column in np.flatnonzero(~nodata & ~too_unlabelled & ~no_s1):
        x = block.x0 + int(column)
        scene, backscatter = s1[column]  # type: ignore[misc]
        name = S2PatchName(
            tile=job.tile,
            mission=product.mission,
            sensing_time=product.sensing_time,
            orbit=product.orbit,
            mgrs_tile=grid.mgrs_tile,
            x=x,
            y=y,
        )
        s1_name = S1PatchName(
            scene=scene.scene, sensing_time=scene.sensing_time, mgrs_tile=grid.mgrs_tile, x=x, y=y
        ).name
        s2 = {band: values[band][column] for band in S2_BANDS}
        _write_patch(staging, grid, (x, y), (name.patch_id, s1_name), s2, backscatter, codes[column])
        snow = bool(fractions.snow[column] >= thresholds.snow)
        cloud = bool(fractions.cloud_or_shadow[column] >= thresholds.cloud_or_shadow)
        counts["kept"] += 1
        counts["seasonal_snow"] += int(snow)
        counts["cloud_or_shadow"] += int(cloud)
        cell = (y - block.y0, int(column))
        rows.append(
            {
                "patch_id": name.patch_id,
                "labels": labels[column],
                "split": str(grid.split(x, y)),
                "country": str(places["country"][cell]),
                "s1_name": s1_name,
                "s2v1_name": name.s2v1_name,
                "contains_seasonal_snow": snow,
                "contains_cloud_or_shadow": cloud,
                "tile": job.tile,
                "x": x,
                "y": y,
                "s2_product": product.name,
                "s1_scene": scene.scene,
                "sensing_time": product.sensing_time.isoformat(),
                "season": season(product.sensing_time),
                "latitude": float(places["latitude"][cell]),
                "longitude": float(places["longitude"][cell]),
                "unlabelled_fraction": float(unlabelled[column]),
                "snow_fraction": float(fractions.snow[column]),
                "cloud_or_shadow_fraction": float(fractions.cloud_or_shadow[column]),
            }
        )
    return rows
