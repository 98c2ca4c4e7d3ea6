"""Bad input gets one clear error that names the patch and the file, and encoding never leaves a store that passes
for complete."""

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bigearth.data.dataset import ReBENDataset
from bigearth.data.encode import encode
from bigearth.data.geotiff import write_band
from bigearth.data.layout import METADATA_FILE, s1_band_path, s2_band_path
from bigearth.data.metadata import read_metadata
from bigearth.data.store import MANIFEST_FILE, StoreReader, close_shared_environment
from bigearth.errors import CorruptDataError, MetadataError, MissingDataError, StoreError


@pytest.fixture
def root(mini_root: Path, tmp_path: Path) -> Path:
    """A private copy of the mini-reBEN that a test may damage."""
    copy = tmp_path / "release"
    shutil.copytree(mini_root, copy)
    return copy


def first_patch(root: Path) -> pd.Series:
    return read_metadata(root).iloc[0]


def test_missing_band_file(root: Path, tmp_path: Path) -> None:
    patch = first_patch(root)
    path = s2_band_path(root, patch["patch_id"], "B8A")
    path.unlink()
    with pytest.raises(MissingDataError, match=r"B8A\.tif is missing") as error:
        encode(root, tmp_path / "store", workers=0)
    assert patch["patch_id"] in str(error.value)
    assert not (tmp_path / "store" / MANIFEST_FILE).exists()
    with pytest.raises(StoreError, match="incomplete"):
        StoreReader(tmp_path / "store")


def test_truncated_geotiff(root: Path) -> None:
    patch = first_patch(root)
    path = s2_band_path(root, patch["patch_id"], "B02")
    path.write_bytes(path.read_bytes()[:500])
    dataset = ReBENDataset(root, split=None, bands="s2")
    row = list(dataset.index.patch_id).index(patch["patch_id"])
    with pytest.raises(CorruptDataError, match="truncated or corrupt") as error:
        dataset[row]
    assert str(path) in str(error.value)


def test_wrong_size_and_dtype(root: Path) -> None:
    patch = first_patch(root)
    path = s1_band_path(root, patch["s1_name"], "VV")
    write_band(path, np.zeros((60, 60), dtype=np.float32), epsg=32633, origin=(0, 0), nodata=None)
    dataset = ReBENDataset(root, split=None, bands="s1")
    row = list(dataset.index.patch_id).index(patch["patch_id"])
    with pytest.raises(CorruptDataError, match="60x60 px, expected 1 band of 120x120"):
        dataset[row]
    write_band(path, np.zeros((120, 120), dtype=np.int16), epsg=32633, origin=(0, 0), nodata=None)
    with pytest.raises(CorruptDataError, match="holds int16, expected float32"):
        dataset[row]


def test_patch_in_metadata_but_not_on_disk(root: Path, tmp_path: Path) -> None:
    patch = first_patch(root)
    shutil.rmtree(s2_band_path(root, patch["patch_id"], "B02").parent)
    with pytest.raises(MissingDataError, match="have no s2 folder") as error:
        encode(root, tmp_path / "store", workers=0)
    assert patch["patch_id"] in str(error.value)


def test_patch_in_metadata_but_not_in_store(mini_store: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    shutil.copytree(mini_store, store)
    frame = pd.read_parquet(store / METADATA_FILE)
    ghost = frame.iloc[:1].copy()
    ghost["patch_id"] = ghost["patch_id"].str.replace(r"_\d\d_\d\d$", "_90_90", regex=True)
    ghost["split"] = "train"
    pd.concat([frame, ghost]).to_parquet(store / METADATA_FILE)
    dataset = ReBENDataset(store, split="train", bands="s2")
    with pytest.raises(MissingDataError, match="_90_90 is not in the store"):
        dataset[len(dataset) - 1]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.drop(columns=["s1_name"]), r"lacks the column\(s\) \['s1_name'\]"),
        (lambda f: f.assign(labels=[["Arable lands"]] * len(f)), "unknown class name"),
        (lambda f: f.assign(split="val"), "has split 'val'"),
    ],
)
def test_bad_metadata(root: Path, change, message: str) -> None:
    path = root / METADATA_FILE
    change(pd.read_parquet(path)).to_parquet(path)
    with pytest.raises(MetadataError, match=message) as error:
        ReBENDataset(root, split="train")
    assert str(path) in str(error.value)


def test_unknown_clc_code(root: Path) -> None:
    from bigearth.data.layout import reference_map_path

    patch = first_patch(root)
    path = reference_map_path(root, patch["patch_id"])
    write_band(path, np.full((120, 120), 777, dtype=np.uint16), epsg=32633, origin=(0, 0), nodata=0)
    dataset = ReBENDataset(root, split=None, bands="s2", with_mask=True)
    row = list(dataset.index.patch_id).index(patch["patch_id"])
    with pytest.raises(CorruptDataError, match=r"no CORINE Land Cover level-3 code: \[777\]") as error:
        dataset[row]
    assert patch["patch_id"] in str(error.value)


def test_store_value_with_wrong_dtype(mini_store: Path, tmp_path: Path) -> None:
    import lmdb

    from bigearth.data import safetensors_codec

    store = tmp_path / "store"
    shutil.copytree(mini_store, store)
    patch = first_patch(store)
    close_shared_environment(store)  # one environment per path and process (py-lmdb >= 2)
    environment = lmdb.open(str(store), map_size=1 << 30)
    with environment.begin(write=True) as transaction:
        transaction.put(patch["patch_id"].encode(), safetensors_codec.encode({"B02": np.zeros((120, 120), np.float32)}))
    environment.close()
    with pytest.raises(CorruptDataError, match=r"band B02 is float32 \(120, 120\), expected uint16"):
        StoreReader(store).read_s2(patch["patch_id"])


def test_unknown_band_and_split(mini_store: Path) -> None:
    from bigearth.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown band names"):
        ReBENDataset(mini_store, bands=["B10"])
    with pytest.raises(ValueError, match="unknown split 'dev'"):
        ReBENDataset(mini_store, split="dev")
