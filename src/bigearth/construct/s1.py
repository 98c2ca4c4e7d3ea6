"""Sentinel-1 scenes: names, polarisations, footprints, and their reprojection onto the S2 patch grid.

The input is a GRD scene already calibrated and terrain-corrected (e.g. with SNAP or pyroSAR) to a GeoTIFF in any
CRS, with the backscatter of VV and VH in dB. The file name must start with (or contain) the S1 product name, e.g.
``S1A_IW_GRDH_1SDV_20170613T165043_20170613T165108_017014_01C6A8_5F0B_TC_dB.tif``: reBEN names the scene folder
after its first five parts (``S1A_IW_GRDH_1SDV_20170613T165043``). Bands are found by their descriptions (``VV``,
``VH``, as SNAP writes ``Sigma0_VV_db``); a two-band file without descriptions is read as VV, VH.

Each patch's S1 values are the scene bilinearly resampled onto the patch's 10 m S2 pixels (in the S2 tile's UTM
CRS). A patch takes the overlapping scene closest in time to the S2 acquisition that covers every one of its
pixels with valid values; a patch that no scene covers is dropped ("no S1 overlap").
"""

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from pyproj import CRS
from rasterio.enums import Resampling
from rasterio.errors import RasterioIOError
from rasterio.io import DatasetReader
from rasterio.warp import reproject, transform_bounds

from bigearth.bands import S1_BANDS
from bigearth.construct.grid import Bounds
from bigearth.errors import CorruptDataError, MissingDataError

SCENE_NAME = re.compile(r"(?P<scene>S1[A-D]_IW_GRD[HM]_1S[DS][VH]_(?P<sensing>\d{8}T\d{6}))")


@dataclass(frozen=True)
class S1Scene:
    """A terrain-corrected S1 scene, as far as the build needs it.

    Attributes:
        path: the GeoTIFF.
        scene: reBEN's scene name, e.g. ``S1A_IW_GRDH_1SDV_20170613T165043``.
        sensing_time: sensing start (UTC, naive).
        band_index: 1-based band index of ``VV`` and ``VH`` in the file.
        crs_wkt: the file's CRS.
        bounds: the file's bounds (left, bottom, right, top) in its CRS.
        nodata: the file's nodata value, or None.
    """

    path: Path
    scene: str
    sensing_time: datetime
    band_index: dict[str, int]
    crs_wkt: str
    bounds: Bounds
    nodata: float | None

    def footprint(self, epsg: int) -> Bounds:
        """Return the bounds of the scene in another CRS (EPSG code), densified along the edges."""
        return transform_bounds(CRS.from_wkt(self.crs_wkt), CRS.from_epsg(epsg), *self.bounds, densify_pts=21)


def _band_index(source: DatasetReader, path: Path) -> dict[str, int]:
    found: dict[str, int] = {}
    for index, description in enumerate(source.descriptions, start=1):
        for band in S1_BANDS:
            if description and band in description.upper() and band not in found:
                found[band] = index
    if len(found) == len(S1_BANDS):
        return found
    if not any(source.descriptions) and source.count == len(S1_BANDS):
        return {band: index for index, band in enumerate(S1_BANDS, start=1)}
    raise CorruptDataError(
        f"S1 scene {path}: cannot tell the VV and VH bands apart (band descriptions {list(source.descriptions)}); "
        "give a GeoTIFF whose band descriptions name VV and VH, or one with exactly two bands VV, VH in this order"
    )


def inspect_scene(path: Path) -> S1Scene:
    """Check a terrain-corrected S1 GeoTIFF and describe it (name, bands, CRS, footprint).

    Raises:
        MissingDataError: if the file does not exist.
        CorruptDataError: if its name holds no S1 product name, it has no CRS, its bands cannot be told apart,
            or its VH values are not in dB (no negative value: linear backscatter).
    """
    path = Path(path)
    if not path.is_file():
        raise MissingDataError(f"S1 scene {path} does not exist; give terrain-corrected GeoTIFFs of S1 GRD scenes")
    match = SCENE_NAME.search(path.name)
    if match is None:
        raise CorruptDataError(
            f"S1 scene {path}: the file name holds no S1 GRD product name (e.g. S1A_IW_GRDH_1SDV_20170613T165043_...); "
            "name the GeoTIFF after its product, as reBEN names S1 patches after the scene"
        )
    try:
        with rasterio.open(path) as source:
            if source.crs is None:
                raise CorruptDataError(f"S1 scene {path} has no CRS; give a terrain-corrected (geocoded) GeoTIFF")
            band_index = _band_index(source, path)
            sample = source.read(band_index["VH"], out_shape=(64, 64), masked=True, resampling=Resampling.nearest)
            scene = S1Scene(
                path=path,
                scene=match["scene"],
                sensing_time=datetime.strptime(match["sensing"], "%Y%m%dT%H%M%S"),
                band_index=band_index,
                crs_wkt=source.crs.to_wkt(),
                bounds=tuple(source.bounds),
                nodata=source.nodata,
            )
    except RasterioIOError as error:
        raise CorruptDataError(f"S1 scene {path} cannot be read ({error}); give a GeoTIFF") from error
    valid = sample.compressed()
    valid = valid[np.isfinite(valid)]
    if valid.size and (valid >= 0).all():
        raise CorruptDataError(
            f"S1 scene {path}: VH has no negative value, so it holds linear backscatter, not dB; convert it with "
            "10 * log10(value) (reBEN's S1 bands are dB)"
        )
    return scene


def reproject_strip(
    source: DatasetReader, scene: S1Scene, epsg: int, transform: Affine, shape: tuple[int, int]
) -> np.ndarray:
    """Resample VV and VH of an open scene onto a strip of the 10 m grid.

    Args:
        source: the scene's open dataset.
        scene: its description.
        epsg: EPSG code of the tile's UTM CRS.
        transform: affine transform of the strip (10 m pixels).
        shape: ``(height, width)`` of the strip in pixels.

    Returns:
        ``(2, height, width)`` float32 dB in ``S1_BANDS`` order, NaN where the scene has no valid value.
    """
    out = np.full((len(S1_BANDS), *shape), np.nan, dtype=np.float32)
    reproject(
        source=rasterio.band(source, [scene.band_index[band] for band in S1_BANDS]),
        destination=out,
        src_nodata=scene.nodata,
        dst_transform=transform,
        dst_crs=CRS.from_epsg(epsg),
        dst_nodata=np.nan,
        resampling=Resampling.bilinear,
    )
    return out
