"""bigearth's strip reader and tifffile against GDAL (rasterio opened directly); encoding with each reader or Dask."""

from pathlib import Path

import numpy as np
import pytest
import rasterio
from safetensors.numpy import load

from bigearth.data.encode import encode
from bigearth.data.geotiff import read_band
from bigearth.data.store import shared_environment
from bigearth.errors import ConfigError, CorruptDataError

#: (file name ending, native size, dtype) of every reBEN GeoTIFF kind.
KINDS = {
    **{f"_{band}.tif": (120, np.uint16) for band in ("B02", "B03", "B04", "B08")},
    **{f"_{band}.tif": (60, np.uint16) for band in ("B05", "B06", "B07", "B8A", "B11", "B12")},
    **{f"_{band}.tif": (20, np.uint16) for band in ("B01", "B09")},
    "_VV.tif": (120, np.float32),
    "_VH.tif": (120, np.float32),
    "_reference_map.tif": (120, np.uint16),
}


def gdal_arrays(root: Path, every: int = 1) -> dict[Path, np.ndarray]:
    """Every ``every``-th GeoTIFF under ``root`` as GDAL reads it (rasterio directly, not bigearth's reader)."""
    arrays = {}
    for path in sorted(root.rglob("*.tif"))[::every]:
        with rasterio.open(path) as source:
            arrays[path] = source.read(1)
    return arrays


def kind(path: Path) -> tuple[int, np.dtype]:
    ending = next(ending for ending in KINDS if path.name.endswith(ending))
    size, dtype = KINDS[ending]
    return size, np.dtype(dtype)


def assert_readers_agree(root: Path, every: int = 1) -> int:
    files = gdal_arrays(root, every)
    for path, expected in files.items():
        size, dtype = kind(path)
        for reader in ("bigearth", "tifffile", "rasterio"):
            array = read_band(path, patch=path.parent.name, size=size, dtype=dtype, reader=reader)
            assert array.dtype == expected.dtype == dtype
            assert array.shape == (size, size)
            np.testing.assert_array_equal(array, expected)
    return len(files)


def test_tifffile_equals_gdal_on_real_samples(reference: Path) -> None:
    # 12 S2 bands (uncompressed), 2 S1 bands (float32) and a deflate + predictor reference map
    assert assert_readers_agree(reference / "samples") == 15


def test_tifffile_equals_gdal_on_mini_reben(mini_root: Path) -> None:
    # every 7th file (sorted by folder, so every kind of band and the deflate-compressed reference maps)
    assert assert_readers_agree(mini_root, every=7) >= 120 * 15 // 7


def test_unknown_reader(mini_root: Path) -> None:
    path = next(mini_root.rglob("*_B02.tif"))
    with pytest.raises(ConfigError, match="unknown GeoTIFF reader 'gdal'"):
        read_band(path, patch="p", size=120, dtype=np.dtype(np.uint16), reader="gdal")
    with pytest.raises(ConfigError, match="unknown GeoTIFF reader"):
        encode(mini_root, mini_root.parent / "never", reader="gdal")


def test_tifffile_names_a_file_that_is_not_a_tiff(tmp_path: Path) -> None:
    path = tmp_path / "x_B02.tif"
    path.write_bytes(b"not a tiff at all")
    with pytest.raises(CorruptDataError, match="truncated or corrupt") as error:
        read_band(path, patch="x", size=120, dtype=np.dtype(np.uint16))
    assert str(path) in str(error.value)


@pytest.mark.slow
def test_encode_on_a_local_dask_cluster(mini_root: Path, tmp_path: Path) -> None:
    """Dask workers read and encode, this process writes: every value holds the GDAL arrays of its files."""
    store = tmp_path / "store"
    summary = encode(mini_root, store, workers=1, scheduler="local", reader="rasterio", chunk_size=64)
    assert summary.written == summary.found
    files = gdal_arrays(mini_root)
    with shared_environment(store).begin() as transaction:
        for path, expected in files.items():
            key, _, band = path.stem.rpartition("_")
            if band == "map":  # <patch_id>_reference_map.tif
                key, band = path.stem, "Data"
            np.testing.assert_array_equal(load(transaction.get(key.encode()))[band], expected)


@pytest.mark.parametrize("options", [{"tiled": True, "blockxsize": 32, "blockysize": 32}, {"compress": "lzw"}])
def test_files_the_strip_reader_does_not_read_are_read_by_tifffile_or_gdal(tmp_path: Path, options: dict) -> None:
    """Tiles or LZW are no reBEN layout: bigearth's reader hands them on and still returns GDAL's array."""
    path = tmp_path / "x_B02.tif"
    expected = np.arange(120 * 120, dtype=np.uint16).reshape(120, 120)
    profile = {"driver": "GTiff", "width": 120, "height": 120, "count": 1, "dtype": "uint16"}
    with rasterio.open(path, "w", **profile, **options) as sink:
        sink.write(expected, 1)
    array = read_band(path, patch="x", size=120, dtype=np.dtype(np.uint16), reader="bigearth")
    np.testing.assert_array_equal(array, expected)
