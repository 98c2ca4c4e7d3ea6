"""The project checked against the real reBEN files: split rule, GeoTIFFs, labels, rico-hdl LMDB round trip."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bigearth.bands import S2_BANDS, native_size
from bigearth.data import safetensors_codec
from bigearth.data.encode import encode
from bigearth.data.geo import geographic_split, patch_latlon, patch_origin, utm_epsg
from bigearth.data.geotiff import read_reference_map, read_s1, read_s2
from bigearth.data.layout import parse_s1_name, parse_s2_name
from bigearth.data.metadata import read_metadata
from bigearth.data.store import StoreReader
from bigearth.nomenclature import labels_from_codes

S2_SAMPLE = "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP_75_43"
S1_SAMPLE = "S1A_IW_GRDH_1SDV_20170613T165043_33UUP_70_48"
MAP_SAMPLE = "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP_26_57"


def test_geographic_split_reproduces_official_split(reference: Path) -> None:
    frame = read_metadata(reference, include_snow_cloud=True)
    assert len(frame) == 549_488
    parts = frame["patch_id"].str.rsplit("_", n=2, expand=True)
    split = geographic_split(parts[1].astype(int).to_numpy(), parts[2].astype(int).to_numpy())
    assert (split == frame["split"].to_numpy()).all()


def test_official_names_parse_and_rebuild(reference: Path) -> None:
    frame = read_metadata(reference).sample(2000, random_state=0)
    for patch_id, s1_name, s2v1 in zip(frame["patch_id"], frame["s1_name"], frame["s2v1_name"], strict=True):
        parsed = parse_s2_name(patch_id)
        assert parsed.patch_id == patch_id
        # v1 names carry the v1 product's sensing time, which may differ from the v2 product's
        assert s2v1.startswith(f"{parsed.mission}_MSIL2A_")
        assert s2v1.endswith(f"_{parsed.x}_{parsed.y}")
        assert parse_s1_name(s1_name).name == s1_name


def test_real_s2_geotiffs(reference: Path) -> None:
    bands = read_s2(reference / "samples", S2_SAMPLE)
    assert tuple(bands) == S2_BANDS
    for band, array in bands.items():
        assert array.dtype == np.uint16
        assert array.shape == (native_size(band), native_size(band))
        assert array.min() > 0  # no nodata pixel
    assert bands["B04"][0, 0] == bands["B04"].ravel()[0]


def test_real_s1_geotiffs(reference: Path) -> None:
    bands = read_s1(reference / "samples", S1_SAMPLE)
    for array in bands.values():
        assert array.dtype == np.float32
        assert array.shape == (120, 120)
        assert -50 < float(np.median(array)) < 5  # backscatter in dB, not linear and not cast to integers


def test_real_reference_map_labels_equal_official_labels(reference: Path) -> None:
    codes = read_reference_map(reference / "samples", MAP_SAMPLE)
    assert codes.dtype == np.uint16
    assert set(np.unique(codes)) == {211, 231, 311, 313}
    official = read_metadata(reference).set_index("patch_id").loc[MAP_SAMPLE, "labels"]
    assert labels_from_codes(codes) == sorted(official)


def test_sample_georeference_matches_tile_grid(reference: Path) -> None:
    import rasterio

    parsed = parse_s2_name(S2_SAMPLE)
    path = reference / "samples/BigEarthNet-S2" / parsed.tile / S2_SAMPLE / f"{S2_SAMPLE}_B02.tif"
    with rasterio.open(path) as source:
        assert source.crs.to_epsg() == utm_epsg(parsed.mgrs_tile) == 32633
        assert (source.transform.c, source.transform.f) == patch_origin(parsed.mgrs_tile, parsed.x, parsed.y)
    lat, lon = patch_latlon(parsed.mgrs_tile, parsed.x, parsed.y)
    assert lat == pytest.approx(48.274, abs=1e-3)
    assert lon == pytest.approx(13.526, abs=1e-3)


def test_reads_rico_hdl_lmdb(reference: Path) -> None:
    reader = StoreReader(reference / "samples" / "rico-hdl-lmdb")
    assert reader.manifest is None  # a foreign rico-hdl LMDB
    assert reader.read_s2(S2_SAMPLE)["B01"].shape == (20, 20)
    expected = read_s2(reference / "samples", S2_SAMPLE)
    for band, array in reader.read_s2(S2_SAMPLE).items():
        np.testing.assert_array_equal(array, expected[band])


def test_encode_holds_every_rico_hdl_key_with_same_arrays(reference: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    encode(reference / "samples", store, workers=0)
    ours, theirs = StoreReader(store), StoreReader(reference / "samples" / "rico-hdl-lmdb")
    assert set(theirs.all_keys()) <= set(ours.all_keys())
    assert f"{MAP_SAMPLE}_reference_map" in ours.all_keys()
    for key in theirs.all_keys():
        expected = safetensors_codec.decode(theirs.get(key))
        actual = safetensors_codec.decode(ours.get(key))
        assert set(actual) == set(expected)
        for band, array in expected.items():
            assert actual[band].dtype == array.dtype
            assert actual[band].shape == array.shape
            np.testing.assert_array_equal(actual[band], array)


def test_codec_agrees_with_safetensors_library(reference: Path) -> None:
    from safetensors.numpy import load

    value = StoreReader(reference / "samples" / "rico-hdl-lmdb").get(S1_SAMPLE)
    expected = load(value)
    actual = safetensors_codec.decode(value)
    assert set(actual) == set(expected)
    for band in expected:
        np.testing.assert_array_equal(actual[band], expected[band])


def test_metadata_class_counts(reference: Path) -> None:
    frame = read_metadata(reference)
    counts = pd.Series([label for labels in frame["labels"] for label in labels]).value_counts()
    assert len(counts) == 19
    assert counts["Beaches, dunes, sands"] + 0 > 0


def test_dataset_reads_rico_hdl_lmdb_with_official_metadata(reference: Path) -> None:
    from bigearth.data.dataset import ReBENDataset

    dataset = ReBENDataset(
        reference / "samples" / "rico-hdl-lmdb", split=None, bands="s2", metadata=reference, include_snow_cloud=True
    )
    assert len(dataset) == 549_488
    sample = dataset.restrict([S2_SAMPLE])[0]
    assert sample["image"].shape == (12, 120, 120)
    assert sample["lat"] == pytest.approx(48.274, abs=1e-3)
    official = read_metadata(reference, include_snow_cloud=True).set_index("patch_id").loc[S2_SAMPLE, "labels"]
    assert [dataset.class_names[i] for i in sample["label"].nonzero().flatten()] == [
        name for name in dataset.class_names if name in official
    ]
