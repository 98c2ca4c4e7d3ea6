"""Shared fixtures: the real reBEN reference files (if present) and small mini-reBENs made once per session
(one with a second acquisition of every other place, one with a single acquisition of every place)."""

import os
import shutil
from pathlib import Path

import lightning  # noqa: F401  (imported first here: see below)
import pytest

# Lightning gives its logger a StreamHandler bound to sys.stderr when it is first imported. Imported first inside
# a CliRunner invocation (whose captured stderr is closed afterwards), every later Lightning message would fail
# with "I/O operation on closed file" and pollute the next command's output (a test file run on its own).

REFERENCE = Path(
    os.environ.get("BIGEARTH_REBEN_REFERENCE", Path(__file__).resolve().parents[1] / ".." / "shared" / "reben")
)


@pytest.fixture(scope="session")
def reference() -> Path:
    """The real reBEN reference folder; tests that need it skip where it is absent."""
    if not (REFERENCE / "metadata.parquet").is_file():
        pytest.skip(f"the real reBEN reference files are absent ({REFERENCE}); set BIGEARTH_REBEN_REFERENCE")
    return REFERENCE.resolve()


@pytest.fixture(scope="session")
def mini_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic mini-reBEN release (official layout), made once per test session."""
    from bigearth.data.synth import synthesize

    root = tmp_path_factory.mktemp("mini") / "release"
    synthesize(root, patches=120, seed=7)
    return root


@pytest.fixture(scope="session")
def mini_store(mini_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The store encoded from :func:`mini_root`."""
    from bigearth.data.encode import encode

    store = tmp_path_factory.mktemp("mini") / "store"
    encode(mini_root, store, workers=0)
    return store


def copy_release_with_dates(root: Path, out: Path, *, every: int = 2) -> list[str]:
    """Copy a release root and add a second date for every ``every``-th patch (the same pixels, another name)."""
    import pandas as pd

    from bigearth.bands import S1_BANDS, S2_BANDS
    from bigearth.data.layout import METADATA_FILE, reference_map_path, s1_band_path, s2_band_path
    from bigearth.data.metadata import read_metadata, write_metadata

    shutil.copytree(root, out)
    frame = read_metadata(out)
    added = []
    for row in frame.iloc[::every].to_dict("records"):
        patch_id = row["patch_id"].replace("_MSIL2A_2", "_MSIL2A_1", 1)  # the same place, a date a millennium earlier
        s1_name = row["s1_name"].replace("_1SDV_2", "_1SDV_1", 1)
        for band in S2_BANDS:
            target = s2_band_path(out, patch_id, band)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(s2_band_path(out, row["patch_id"], band), target)
        for band in S1_BANDS:
            target = s1_band_path(out, s1_name, band)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(s1_band_path(out, row["s1_name"], band), target)
        reference_map_path(out, patch_id).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(reference_map_path(out, row["patch_id"]), reference_map_path(out, patch_id))
        added.append({**row, "patch_id": patch_id, "s1_name": s1_name})
    write_metadata(pd.concat([frame, pd.DataFrame(added)], ignore_index=True), out / METADATA_FILE)
    return [row["patch_id"] for row in added]


@pytest.fixture(scope="session")
def temporal_root(mini_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test mini-reBEN with a second acquisition of every other patch."""
    out = tmp_path_factory.mktemp("temporal") / "release"
    copy_release_with_dates(mini_root, out)
    return out


@pytest.fixture(scope="session")
def single_date_root(mini_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test mini-reBEN with only the first acquisition of every place in its metadata (one date per place)."""
    from bigearth.data.layout import METADATA_FILE
    from bigearth.data.metadata import read_metadata, write_metadata

    out = tmp_path_factory.mktemp("single") / "release"
    shutil.copytree(mini_root, out)
    frame = read_metadata(out)
    places = frame["patch_id"].str.split("_").str[-3:].str.join("_")
    write_metadata(frame[~places.duplicated()], out / METADATA_FILE)
    return out
