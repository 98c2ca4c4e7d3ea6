"""Reading reBEN GeoTIFFs (tifffile or rasterio) and writing them (rasterio), with checks naming patch and file.

tifffile and rasterio (GDAL) are imported by the functions that read or write a file, not with this module: the
commands that only read a store or the metadata (``bigearth info``) start without them.
"""

import struct
import zlib
from pathlib import Path

import numpy as np

from bigearth.bands import S1_BANDS, S2_BANDS, native_size
from bigearth.data.layout import reference_map_path, s1_band_path, s2_band_path
from bigearth.errors import BigEarthError, ConfigError, CorruptDataError, MissingDataError

#: Expected dtype of each kind of file.
S2_DTYPE = np.dtype(np.uint16)
S1_DTYPE = np.dtype(np.float32)
REFERENCE_DTYPE = np.dtype(np.uint16)


#: GeoTIFF readers: bigearth's strip reader (default; hands any file it does not read to tifffile), tifffile and
#: rasterio (GDAL).
READERS = ("bigearth", "tifffile", "rasterio")
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


#: TIFF tags the strip reader needs: width, length, bits per sample, compression, strip offsets, samples per
#: pixel, rows per strip, strip byte counts, planar configuration, predictor, sample format.
_TAGS = {256: "width", 257: "length", 258: "bits", 259: "compression", 273: "offsets", 277: "samples",
         278: "rows_per_strip", 279: "counts", 284: "planar", 317: "predictor", 339: "format"}  # fmt: skip
#: Tags that put a file outside what the strip reader reads (tiles): handed to tifffile.
_TILE_TAGS = frozenset({322, 323, 324, 325})
#: TIFF field types of integer tags: SHORT and LONG.
_FIELD_TYPES = {3: "H", 4: "I"}
#: numpy dtype kind of TIFF SampleFormat values: unsigned, signed, float.
_SAMPLE_KINDS = {1: "u", 2: "i", 3: "f"}


def _read_strips(path: Path) -> np.ndarray | None:
    """Read a single-band, single-image, striped TIFF (uncompressed or deflate, predictor none or horizontal).

    reBEN's GeoTIFFs are such files (the S2 and S1 bands uncompressed, the reference maps deflate with
    horizontal differencing), and reading them is one ``read`` of the file, the directory parsed with ``struct``
    and the strips viewed (or inflated) with numpy: several times faster than tifffile's general parser.

    Returns:
        The ``(length, width)`` array, or None for anything else (BigTIFF, tiles, several images or samples,
        other compressions or predictors, a malformed or truncated file): the caller hands it to tifffile,
        which reads it or names the problem.
    """
    data = path.read_bytes()
    try:
        order = {b"II": "<", b"MM": ">"}[data[:2]]
        magic, directory = struct.unpack_from(order + "HI", data, 2)
        (entries,) = struct.unpack_from(order + "H", data, directory)
        tags: dict[str, tuple[int, ...]] = {}
        for entry in range(entries):
            tag, kind, count, value = struct.unpack_from(order + "HHI4s", data, directory + 2 + 12 * entry)
            if tag in _TILE_TAGS:
                return None
            if tag in _TAGS:
                code = _FIELD_TYPES[kind]
                source = value if count * struct.calcsize(code) <= 4 else data[struct.unpack(order + "I", value)[0] :]
                tags[_TAGS[tag]] = struct.unpack_from(f"{order}{count}{code}", source)
        (following,) = struct.unpack_from(order + "I", data, directory + 2 + 12 * entries)
        compression = tags.get("compression", (1,))[0]
        predictor = tags.get("predictor", (1,))[0]
        if (
            magic != 42 or following != 0 or tags.get("samples", (1,)) != (1,) or compression not in (1, 8, 32946)
            or predictor not in (1, 2) or len(tags["offsets"]) != len(tags["counts"])
        ):  # fmt: skip
            return None
        kind = _SAMPLE_KINDS[tags.get("format", (1,))[0]]
        dtype = np.dtype(f"{order}{kind}{tags['bits'][0] // 8}")
        if predictor == 2 and kind == "f":
            return None
        strips = [data[offset : offset + count] for offset, count in zip(tags["offsets"], tags["counts"], strict=True)]
        if compression != 1:
            strips = [zlib.decompress(strip) for strip in strips]
        width, length = tags["width"][0], tags["length"][0]
        raw = b"".join(strips)
        if len(raw) != width * length * dtype.itemsize:
            return None
        array = np.frombuffer(raw, dtype=dtype).reshape(length, width)
        if predictor == 2:
            array = np.cumsum(array, axis=1, dtype=dtype)  # horizontal differencing, modulo the integer range
        return array.astype(dtype.newbyteorder("="), copy=predictor == 1)
    except (KeyError, IndexError, ValueError, TypeError, struct.error, zlib.error):
        return None


def _read_bigearth(path: Path, patch: str, size: int, dtype: np.dtype) -> np.ndarray:
    array = _read_strips(path)
    if array is None:
        return _read_tifffile(path, patch, size, dtype)
    _check_layout(path, patch, count=1, width=array.shape[1], height=array.shape[0], found=array.dtype.name,
                  size=size, dtype=dtype)  # fmt: skip
    return array


def read_band(path: Path, *, patch: str, size: int, dtype: np.dtype, reader: str = "bigearth") -> np.ndarray:
    """Read the single band of a patch GeoTIFF and check its size and dtype.

    The readers return identical arrays on reBEN files (tested on the real samples and the mini-reBEN); bigearth's
    strip reader hands any file but a single-band striped TIFF (uncompressed or deflate) to tifffile, and tifffile
    hands files in a compression it cannot decode without optional codecs to rasterio.

    Args:
        path: the GeoTIFF file.
        patch: patch name, for error messages.
        size: expected width = height in pixels.
        dtype: expected data type.
        reader: ``"bigearth"``, ``"tifffile"`` or ``"rasterio"``.

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
    read = {"bigearth": _read_bigearth, "tifffile": _read_tifffile, "rasterio": _read_rasterio}[check_reader(reader)]
    return read(path, patch, size, dtype)


def read_s2(
    root: Path, patch_id: str, bands: tuple[str, ...] = S2_BANDS, *, reader: str = "bigearth"
) -> dict[str, np.ndarray]:
    """Read S2 bands of a patch at native size: ``{band: (120|60|20, same) uint16}``."""
    return {
        band: read_band(
            s2_band_path(root, patch_id, band), patch=patch_id, size=native_size(band), dtype=S2_DTYPE, reader=reader
        )
        for band in bands
    }


def read_s1(
    root: Path, s1_name: str, bands: tuple[str, ...] = S1_BANDS, *, reader: str = "bigearth"
) -> dict[str, np.ndarray]:
    """Read S1 polarisations of a patch: ``{"VV"|"VH": (120, 120) float32 dB}``."""
    return {
        band: read_band(
            s1_band_path(root, s1_name, band), patch=s1_name, size=native_size(band), dtype=S1_DTYPE, reader=reader
        )
        for band in bands
    }


def read_reference_map(root: Path, patch_id: str, *, reader: str = "bigearth") -> np.ndarray:
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
