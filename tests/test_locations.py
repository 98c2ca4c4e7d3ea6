"""The location index and temporal pairs: hand-made metadata with places imaged on 1, 2 and 4 dates."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from bigearth.data.dataset import ReBENDataset
from bigearth.data.index import build_index
from bigearth.data.layout import METADATA_FILE
from bigearth.data.locations import LocationIndex, TemporalPairs, location_keys, split_pairs
from bigearth.data.metadata import write_metadata
from bigearth.errors import ConfigError

#: location -> its sensing times (hand-made: 1, 2 and 4 dates, listed out of date order on purpose)
DATES = {
    ("33UUP", 26, 57): ["20170613T101031"],
    ("33UUP", 26, 58): ["20180101T101031", "20170613T101031"],
    ("29SNB", 3, 7): ["20171201T112111", "20170301T112111", "20170901T112111", "20170601T112111"],
}


def name(tile: str, x: int, y: int, when: str) -> str:
    return f"S2A_MSIL2A_{when}_N9999_R022_T{tile}_{x:02d}_{y:02d}"


@pytest.fixture
def metadata(tmp_path: Path) -> Path:
    """A metadata file written by hand: 7 patches at 3 locations, rows interleaved across locations."""
    rows = [(tile, x, y, when) for (tile, x, y), dates in DATES.items() for when in dates]
    order = [4, 0, 2, 6, 1, 5, 3]
    frame = pd.DataFrame([{
        "patch_id": name(*rows[i]), "labels": ["Urban fabric"], "split": "train", "country": "Austria",
        "s1_name": f"S1A_IW_GRDH_1SDV_{rows[i][3]}_{rows[i][0]}_{rows[i][1]}_{rows[i][2]}",
        "s2v1_name": "-", "contains_seasonal_snow": False, "contains_cloud_or_shadow": False,
    } for i in order])  # fmt: skip
    write_metadata(frame, tmp_path / METADATA_FILE)
    return tmp_path


def test_location_keys_are_the_mgrs_tile_and_position_not_the_product() -> None:
    keys, sensing = location_keys(["S2B_MSIL2A_20170613T101031_N9999_R022_T33UUP_26_57",
                                   "S2A_MSIL2A_20180101T093201_N0207_R136_T33UUP_26_57"])  # fmt: skip
    assert keys.tolist() == ["T33UUP_26_57", "T33UUP_26_57"]
    assert sensing.tolist() == ["20170613T101031", "20180101T093201"]


def test_the_index_groups_a_hand_made_metadata_file_by_place_and_date(metadata: Path) -> None:
    patch_ids = build_index(metadata, split="train").patch_id
    index = LocationIndex.from_patch_ids(patch_ids)
    assert sorted(index.names.tolist()) == ["T29SNB_03_07", "T33UUP_26_57", "T33UUP_26_58"]
    expected_counts = {name(t, x, y, w): len(dates) for (t, x, y), dates in DATES.items() for w in dates}
    assert index.counts.tolist() == [expected_counts[p] for p in patch_ids]
    assert sorted(index.multi_date_rows().tolist()) == [i for i, p in enumerate(patch_ids) if expected_counts[p] > 1]
    four = list(patch_ids).index(name("29SNB", 3, 7, "20170901T112111"))
    assert [patch_ids[i] for i in index.acquisitions(four)] == [
        name("29SNB", 3, 7, w) for w in sorted(DATES[("29SNB", 3, 7)])]  # fmt: skip


def test_temporal_partners_are_another_date_of_the_same_place_drawn_among_all_others(metadata: Path) -> None:
    patch_ids = build_index(metadata, split="train").patch_id
    index = LocationIndex.from_patch_ids(patch_ids)
    rows = np.repeat(np.arange(len(patch_ids)), 200)
    partners = index.other_acquisitions(rows, generator=torch.Generator().manual_seed(0))
    single = [i for i, p in enumerate(patch_ids) if p == name("33UUP", 26, 57, "20170613T101031")]
    assert (partners[rows == single[0]] == -1).all()
    paired = partners >= 0
    assert paired.sum() == 200 * 6
    assert not (partners[paired] == rows[paired]).any()  # never the same acquisition
    place = [p.rsplit("_", 3)[1:] for p in patch_ids]
    assert all(place[a] == place[b] for a, b in zip(rows[paired], partners[paired], strict=True))
    for row in range(len(patch_ids)):  # every other date is drawn (3 each for the 4-date place)
        drawn = set(partners[rows == row].tolist()) - {-1}
        assert drawn == set(index.acquisitions(row).tolist()) - {row}


def test_temporal_pairs_read_each_patch_with_another_date_of_its_place(temporal_root: Path) -> None:
    dataset = ReBENDataset(temporal_root, "train", bands=10, raw=False)
    pairs = TemporalPairs(dataset)
    counts = LocationIndex.from_patch_ids(dataset.index.patch_id).counts
    assert len(pairs) == int((counts >= 2).sum()) > 0
    batch = split_pairs(pairs.__getitems__(list(range(len(pairs)))))
    assert batch["image"].shape == batch["image_other"].shape == (len(pairs), 10, 120, 120)
    assert len(batch["label"]) == len(batch["lat"]) == len(pairs)
    for first, other in zip(batch["patch_id"], batch["patch_id_other"], strict=True):
        assert first != other
        assert first.rsplit("_", 3)[1:] == other.rsplit("_", 3)[1:]
    # image_other is the partner's own image, as a dataset of the partners alone reads it
    partners = ReBENDataset(temporal_root, "train", bands=10, raw=False).restrict(list(batch["patch_id_other"]))
    torch.testing.assert_close(batch["image_other"], partners.__getitems__(list(range(len(pairs))))["image"])
    assert len(TemporalPairs(dataset, single_date="same")) == len(dataset)


def test_temporal_pairs_refuse_data_with_one_date_per_place_and_unknown_policies(single_date_root: Path) -> None:
    dataset = ReBENDataset(single_date_root, "train", bands=10)
    with pytest.raises(ConfigError, match=r"has one date; switch temporal\.enabled off"):
        TemporalPairs(dataset)
    with pytest.raises(ConfigError, match="unknown single_date policy 'drop'"):
        TemporalPairs(dataset, single_date="drop")
