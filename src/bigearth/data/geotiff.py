"""Reading and writing reBEN GeoTIFFs with rasterio, with checks that name the patch and file on bad input."""

from pathlib import Path

import numpy as np
import rasterio
from rasterio.errors import RasterioIOError
from rasterio.transform import from_origin

from bigearth.data.bands import S1_BANDS, S2_BANDS, native_size
from bigearth.data.layout import reference_map_path, s1_band_path, s2_band_path
from bigearth.errors import CorruptDataError, MissingDataError

#: Expected dtype of each kind of file.
S2_DTYPE = np.dtype(np.uint16)
S1_DTYPE = np.dtype(np.float32)
REFERENCE_DTYPE = np.dtype(np.uint16)


def read_band(path: Path, *, patch: str, size: int, dtype: np.dtype) -> np.ndarray:
    """Read the single band of a patch GeoTIFF and check its size and dtype.

    Args:
        path: the GeoTIFF file.
        patch: patch name, for error messages.
        size: expected width = height in pixels.
        dtype: expected data type.

    Returns:
        A ``(size, size)`` array of ``dtype``.

    Raises:
        MissingDataError: if the file does not exist.
        CorruptDataError: if it cannot be decoded or has another size, band count or dtype.
    """
    if not path.is_file():
        raise MissingDataError(
            f"patch {patch}: file {path} is missing; re-extract the patch folder from the reBEN archive "
            "(or exclude the patch from the metadata)"
        )
    try:
        with rasterio.open(path) as source:
            if source.count != 1 or source.width != size or source.height != size:
                raise CorruptDataError(
                    f"patch {patch}: {path} has {source.count} band(s) of {source.width}x{source.height} px, "
                    f"expected 1 band of {size}x{size} px; the file is not a reBEN band of this resolution"
                )
            if np.dtype(source.dtypes[0]) != dtype:
                raise CorruptDataError(
                    f"patch {patch}: {path} holds {source.dtypes[0]}, expected {dtype}; "
                    "reBEN S2 bands and reference maps are uint16, S1 bands float32 dB"
                )
            return source.read(1)
    except RasterioIOError as error:
        raise CorruptDataError(
            f"patch {patch}: {path} cannot be decoded ({error}); the file is truncated or corrupt: "
            "re-extract it from the reBEN archive"
        ) from error


def read_s2(root: Path, patch_id: str, bands: tuple[str, ...] = S2_BANDS) -> dict[str, np.ndarray]:
    """Read S2 bands of a patch at native size: ``{band: (120|60|20, same) uint16}``."""
    return {
        band: read_band(s2_band_path(root, patch_id, band), patch=patch_id, size=native_size(band), dtype=S2_DTYPE)
        for band in bands
    }


def read_s1(root: Path, s1_name: str, bands: tuple[str, ...] = S1_BANDS) -> dict[str, np.ndarray]:
    """Read S1 polarisations of a patch: ``{"VV"|"VH": (120, 120) float32 dB}``."""
    return {
        band: read_band(s1_band_path(root, s1_name, band), patch=s1_name, size=native_size(band), dtype=S1_DTYPE)
        for band in bands
    }


def read_reference_map(root: Path, patch_id: str) -> np.ndarray:
    """Read a patch's reference map: ``(120, 120)`` uint16 CLC level-3 codes."""
    return read_band(reference_map_path(root, patch_id), patch=patch_id, size=120, dtype=REFERENCE_DTYPE)


def write_band(
    path: Path,
    array: np.ndarray,
    *,
    epsg: int,
    origin: tuple[float, float],
    nodata: float | None,
    compress: str | None = None,
) -> None:
    """Write one band as a GeoTIFF like the reBEN files (striped, uncompressed unless ``compress``).

    Args:
        path: output file; parent folders are created.
        array: ``(size, size)`` array; its size sets the pixel size (1200 m / size).
        epsg: EPSG code of the UTM CRS.
        origin: upper-left corner (easting, northing) in metres.
        nodata: nodata value tag, or None for none.
        compress: GDAL compression name (``"deflate"`` for reference maps, with predictor 2 as in reBEN) or None.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    size = array.shape[-1]
    pixel = 1200 / size
    profile = {
        "driver": "GTiff",
        "width": size,
        "height": size,
        "count": 1,
        "dtype": array.dtype.name,
        "crs": f"EPSG:{epsg}",
        "transform": from_origin(origin[0], origin[1], pixel, pixel),
        "nodata": nodata,
    }
    if compress:  # the real reference maps: DEFLATE with horizontal differencing
        profile["compress"] = compress
        profile["predictor"] = 2
    with rasterio.open(path, "w", **profile) as sink:
        sink.write(array, 1)
