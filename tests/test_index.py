"""The patch index against hand-built labels and coordinates of the real reBEN metadata."""

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from bigearth.data.geo import patch_latlon
from bigearth.data.index import build_index
from bigearth.data.layout import METADATA_FILE, METADATA_SCHEMA
from bigearth.nomenclature import CLASSES_TABLE, class_names


@pytest.mark.parametrize("order", ["table", "alphabetical"])
def test_index_of_real_metadata(reference: Path, order: str) -> None:
    index = build_index(reference, split=None, class_order=order)
    frame = pd.read_parquet(reference / "metadata.parquet")
    frame = frame[~(frame["contains_seasonal_snow"] | frame["contains_cloud_or_shadow"])]
    assert list(index.patch_id) == list(frame["patch_id"])
    names = class_names(order)
    rows = np.random.default_rng(0).choice(len(frame), 200, replace=False)
    for row in rows:
        expected = np.zeros(len(names), dtype=np.float32)
        for label in frame["labels"].iloc[row]:
            expected[names.index(label)] = 1.0
        np.testing.assert_array_equal(index.labels[row], expected)
        _, tile, x, y = frame["patch_id"].iloc[row].rsplit("_", 3)
        lat, lon = patch_latlon(tile[1:], int(x), int(y))
        assert (index.lat[row], index.lon[row]) == (float(lat), float(lon))
    assert index.labels.sum() == frame["labels"].map(len).sum()


def test_index_filters_chunked_rows(tmp_path: Path) -> None:
    """Split and snow/cloud filters, labels and ``take`` on a table read in several chunks (row groups of 2)."""
    base = "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP"
    rows = [  # (x, y, labels, split, snow, cloud)
        (1, 2, ["Urban fabric", "Pastures"], "train", False, False),
        (3, 4, ["Pastures"], "test", False, False),
        (5, 6, ["Arable land", "Urban fabric"], "train", True, False),
        (7, 8, ["Marine waters"], "train", False, True),
        (9, 10, ["Coniferous forest", "Arable land", "Pastures"], "train", False, False),
    ]
    frame = pd.DataFrame(
        {
            "patch_id": [f"{base}_{x}_{y}" for x, y, *_ in rows],
            "labels": [labels for _, _, labels, *_ in rows],
            "split": [row[3] for row in rows],
            "country": "Austria",
            "s1_name": [f"S1_{x}_{y}" for x, y, *_ in rows],
            "s2v1_name": [f"V1_{x}_{y}" for x, y, *_ in rows],
            "contains_seasonal_snow": [row[4] for row in rows],
            "contains_cloud_or_shadow": [row[5] for row in rows],
        }
    )
    pq.write_table(pa.Table.from_pandas(frame, schema=METADATA_SCHEMA), tmp_path / METADATA_FILE, row_group_size=2)

    index = build_index(tmp_path, split="train", class_order="alphabetical")
    assert list(index.patch_id) == [f"{base}_1_2", f"{base}_9_10"]  # rows 3 and 4 are flagged, row 2 is test
    assert list(index.s1_name) == ["S1_1_2", "S1_9_10"]
    names = class_names("alphabetical")
    expected = np.zeros((2, len(names)), dtype=np.float32)
    for row, labels in enumerate([rows[0][2], rows[4][2]]):
        expected[row, [names.index(label) for label in labels]] = 1.0
    np.testing.assert_array_equal(index.labels, expected)
    lat, lon = patch_latlon("33UUP", np.array([1, 9]), np.array([2, 10]))
    np.testing.assert_array_equal(index.lat, lat)
    np.testing.assert_array_equal(index.lon, lon)
    pd.testing.assert_frame_equal(index.frame, frame.iloc[[0, 4]].reset_index(drop=True))

    flagged = build_index(tmp_path, split=None, include_snow_cloud=True).take([3, 0])
    assert list(flagged.patch_id) == [f"{base}_7_8", f"{base}_1_2"]
    expected = np.zeros((2, len(CLASSES_TABLE)), dtype=np.float32)
    expected[0, CLASSES_TABLE.index("Marine waters")] = 1.0
    expected[1, [CLASSES_TABLE.index("Urban fabric"), CLASSES_TABLE.index("Pastures")]] = 1.0
    np.testing.assert_array_equal(flagged.labels, expected)
    pd.testing.assert_frame_equal(flagged.frame, frame.iloc[[3, 0]].reset_index(drop=True))
