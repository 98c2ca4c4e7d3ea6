"""Georeference of reBEN patches: the tile grid in UTM, patch centres in latitude/longitude, the split rule.

A tile ``T<zone><band><square>`` is the MGRS 100 km square extended to 109.8 km east and south; its upper-left
corner is the square's west easting and north northing in the UTM zone (north). Patches are 1200 m squares
numbered by column x (from west) and row y (from north). Coordinates are not in the official metadata.
"""

import warnings
from functools import cache

import mgrs
import numpy as np
from pyproj import Transformer

TILE_SIZE_M = 109_800
PATCH_SIZE_M = 1_200
#: Complete patches along one side of a tile (x, y in 0..90); the incomplete last row and column are dropped.
GRID_SIZE = TILE_SIZE_M // PATCH_SIZE_M
PIXEL_SIZE_M = 10


def utm_epsg(mgrs_tile: str) -> int:
    """Return the EPSG code of the UTM zone (WGS 84) of an MGRS tile such as ``"33UUP"`` (north: 326xx)."""
    zone = int(mgrs_tile[:2])
    north = mgrs_tile[2] >= "N"
    return (32600 if north else 32700) + zone


@cache
def tile_origin(mgrs_tile: str) -> tuple[float, float]:
    """Return the upper-left corner (easting, northing) in metres of an S2 tile such as ``"33UUP"``."""
    with warnings.catch_warnings():  # the MGRS library warns about latitude bands it checks loosely
        warnings.simplefilter("ignore", RuntimeWarning)
        _zone, _hemisphere, easting, northing = mgrs.MGRS().MGRSToUTM(f"{mgrs_tile}0000000000")
    return round(easting, -2), round(northing, -2) + 100_000


def patch_origin(mgrs_tile: str, x: int, y: int) -> tuple[float, float]:
    """Return the upper-left corner (easting, northing) in metres of patch (x, y) of a tile."""
    ulx, uly = tile_origin(mgrs_tile)
    return ulx + PATCH_SIZE_M * x, uly - PATCH_SIZE_M * y


@cache
def _to_wgs84(epsg: int) -> Transformer:
    return Transformer.from_crs(epsg, 4326, always_xy=True)


def patch_latlon(mgrs_tile: str, x: int | np.ndarray, y: int | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return latitude and longitude (degrees, WGS 84) of patch centres of one tile.

    Args:
        mgrs_tile: MGRS tile without the leading ``T``, e.g. ``"33UUP"``.
        x: column(s), 0 = west.
        y: row(s), 0 = north.
    """
    ulx, uly = tile_origin(mgrs_tile)
    east = ulx + PATCH_SIZE_M * np.asarray(x, dtype=np.float64) + PATCH_SIZE_M / 2
    north = uly - PATCH_SIZE_M * np.asarray(y, dtype=np.float64) - PATCH_SIZE_M / 2
    lon, lat = _to_wgs84(utm_epsg(mgrs_tile)).transform(east, north)
    return np.asarray(lat), np.asarray(lon)


_TRAIN_LIMIT = TILE_SIZE_M / 2 - TILE_SIZE_M * (2 - np.sqrt(2)) / 4
_VALIDATION_LIMIT = _TRAIN_LIMIT - TILE_SIZE_M * (np.sqrt(2) - 1) / 4


def geographic_split(x: int | np.ndarray, y: int | np.ndarray) -> np.ndarray:
    """Return the reBEN split of patches from their position in the tile.

    Concentric square rings around the tile centre by the Chebyshev distance d of the patch centre hold 1/2
    (outer: train), 1/4 (validation) and 1/4 (inner: test) of the tile's area. This reproduces the official
    ``split`` of all 549,488 reBEN patches.

    Args:
        x: patch column(s) 0..90.
        y: patch row(s) 0..90.

    Returns:
        An array of ``"train"``, ``"validation"`` or ``"test"`` strings, shaped like the broadcast inputs.
    """
    cx = np.asarray(x) * PATCH_SIZE_M + PATCH_SIZE_M / 2
    cy = np.asarray(y) * PATCH_SIZE_M + PATCH_SIZE_M / 2
    distance = np.maximum(np.abs(cx - TILE_SIZE_M / 2), np.abs(cy - TILE_SIZE_M / 2))
    return np.where(distance > _TRAIN_LIMIT, "train", np.where(distance > _VALIDATION_LIMIT, "validation", "test"))
