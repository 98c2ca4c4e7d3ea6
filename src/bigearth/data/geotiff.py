"""Reading reBEN GeoTIFFs (tifffile or rasterio) and writing them (rasterio), with checks naming patch and file.

tifffile and rasterio (GDAL) are imported by the functions that read or write a file, not with this module: the
commands that only read a store or the metadata (``bigearth info``) start without them.
"""

from pathlib import Path

import numpy as np

from bigearth.bands import S1_BANDS, S2_BANDS, native_size
from bigearth.data.layout import reference_map_path, s1_band_path, s2_band_path
from bigearth.errors import BigEarthError, ConfigError, CorruptDataError, MissingDataError

#: Expected dtype of each kind of file.
S2_DTYPE = np.dtype(np.uint16)
S1_DTYPE = np.dtype(np.float32)
REFERENCE_DTYPE = np.dtype(np.uint16)


#: GeoTIFF readers: tifffile (default; about 3x faster on reBEN's small single-band files) and rasterio (GDAL).
READERS = ("tifffile", "rasterio")
#: TIFF compression codes tifffile decodes without optional codecs: none, Adobe deflate, deflate (all of reBEN).
_TIFFFILE_COMPRESSIONS = frozenset({1, 8, 32946})


def check_reader(reader: str) -> str:
    """Return ``reader`` if it names a GeoTIFF reader.

    Raises:
        ConfigError: naming the readers to choose from.
    """
    if reader not in READERS:
        raise ConfigError(f"unknown GeoTIFF reader {reader!r}: use one of {READERS}")
    return reader


def _check_layout(
    path: Path, patch: str, *, count: int, width: int, height: int, found: str, size: int, dtype: np.dtype
) -> None:
    if count != 1 or width != size or height != size:
        raise CorruptDataError(
            f"patch {patch}: {path} has {count} band(s) of {width}x{height} px, "
            f"expected 1 band of {size}x{size} px; the file is not a reBEN band of this resolution"
        )
    if np.dtype(found) != dtype:
        raise CorruptDataError(
            f"patch {patch}: {path} holds {found}, expected {dtype}; "
            "reBEN S2 bands and reference maps are uint16, S1 bands float32 dB"
        )


def _corrupt(path: Path, patch: str, error: Exception) -> CorruptDataError:
    return CorruptDataError(
        f"patch {patch}: {path} cannot be decoded ({error}); the file is truncated or corrupt: "
        "re-extract it from the reBEN archive"
    )


def _read_rasterio(path: Path, patch: str, size: int, dtype: np.dtype) -> np.ndarray:
    import rasterio
    from rasterio.errors import RasterioIOError

    try:
        with rasterio.open(path) as source:
            _check_layout(path, patch, count=source.count, width=source.width, height=source.height,
                          found=source.dtypes[0], size=size, dtype=dtype)  # fmt: skip
            return source.read(1)
    except RasterioIOError as error:
        raise _corrupt(path, patch, error) from error


def _read_tifffile(path: Path, patch: str, size: int, dtype: np.dtype) -> np.ndarray:
    import tifffile

    try:
        with tifffile.TiffFile(path) as tiff:
            page = tiff.pages.first
            if int(page.compression) not in _TIFFFILE_COMPRESSIONS:  # e.g. LZW or JPEG: let GDAL decode it
                return _read_rasterio(path, patch, size, dtype)
            _check_layout(path, patch, count=page.samplesperpixel * len(tiff.pages), width=page.imagewidth,
                          height=page.imagelength, found=page.dtype.name, size=size, dtype=dtype)  # fmt: skip
            return page.asarray(maxworkers=1)
    except BigEarthError:  # our own checks (CorruptDataError is a ValueError too)
        raise
    except (tifffile.TiffFileError, ValueError, OSError) as error:  # truncated strips raise ValueError
        raise _corrupt(path, patch, error) from error


def read_band(path: Path, *, patch: str, size: int, dtype: np.dtype, reader: str = "tifffile") -> np.ndarray:
    """Read the single band of a patch GeoTIFF and check its size and dtype.

    Both readers return identical arrays on reBEN files (tested on the real samples and the mini-reBEN); tifffile
    hands files in a compression it cannot decode without optional codecs to rasterio.

    Args:
        path: the GeoTIFF file.
        patch: patch name, for error messages.
        size: expected width = height in pixels.
        dtype: expected data type.
        reader: ``"tifffile"`` or ``"rasterio"``.

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
    read = _read_tifffile if check_reader(reader) == "tifffile" else _read_rasterio
    return read(path, patch, size, dtype)


def read_s2(
    root: Path, patch_id: str, bands: tuple[str, ...] = S2_BANDS, *, reader: str = "tifffile"
) -> dict[str, np.ndarray]:
    """Read S2 bands of a patch at native size: ``{band: (120|60|20, same) uint16}``."""
    return {
        band: read_band(
            s2_band_path(root, patch_id, band), patch=patch_id, size=native_size(band), dtype=S2_DTYPE, reader=reader
        )
        for band in bands
    }


def read_s1(
    root: Path, s1_name: str, bands: tuple[str, ...] = S1_BANDS, *, reader: str = "tifffile"
) -> dict[str, np.ndarray]:
    """Read S1 polarisations of a patch: ``{"VV"|"VH": (120, 120) float32 dB}``."""
    return {
        band: read_band(
            s1_band_path(root, s1_name, band), patch=s1_name, size=native_size(band), dtype=S1_DTYPE, reader=reader
        )
        for band in bands
    }


def read_reference_map(root: Path, patch_id: str, *, reader: str = "tifffile") -> np.ndarray:
    """Read a patch's reference map: ``(120, 120)`` uint16 CLC level-3 codes."""
    return read_band(reference_map_path(root, patch_id), patch=patch_id, size=120, dtype=REFERENCE_DTYPE, reader=reader)


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
    import rasterio
    from rasterio.transform import from_origin

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
