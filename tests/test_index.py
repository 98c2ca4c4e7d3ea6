"""The patch index against hand-built labels and coordinates of the real reBEN metadata."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bigearth.data.geo import patch_latlon
from bigearth.data.index import build_index
from bigearth.nomenclature import class_names


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
