"""``bigearth build`` on small synthetic inputs: the official layout, what is kept and dropped and why, naming,
radiometry, the data layer reading the result, Dask (local cluster and an existing scheduler), resuming."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
from rasterio.windows import Window
from typer.testing import CliRunner

from bigearth.bands import S2_BANDS, native_size
from bigearth.cli import build as _build_commands  # noqa: F401  (registers the commands)
from bigearth.cli.app import app
from bigearth.construct import BuildOptions, build
from bigearth.construct import state as build_state
from bigearth.construct.fixtures import EXAMPLE_WINDOW, make_example, parse_window
from bigearth.construct.quality import quality_fractions
from bigearth.construct.radiometry import to_reben
from bigearth.construct.report import BUILD_PATCHES_FILE, BUILD_SUMMARY_FILE
from bigearth.construct.safe import read_product
from bigearth.data.dataset import ReBENDataset
from bigearth.data.encode import encode
from bigearth.data.geo import geographic_split, patch_origin
from bigearth.data.geotiff import read_reference_map, read_s1, read_s2
from bigearth.data.layout import (
    METADATA_FILE,
    REFERENCE_DIR,
    S1_DIR,
    S2_DIR,
    SNOW_CLOUD_METADATA_FILE,
    parse_s1_name,
    parse_s2_name,
    s2_band_path,
)
from bigearth.data.metadata import read_metadata
from bigearth.errors import ConfigError, CorruptDataError
from bigearth.nomenclature import labels_from_codes

TILE = "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP"


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory):
    return make_example(tmp_path_factory.mktemp("build") / "inputs")


@pytest.fixture(scope="module")
def built(example, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("build") / "reben"
    events = []
    summary = build([example.s2], [example.s1], example.clc, out, workers=0, progress=events.append)
    return out, summary, events


def patches(out: Path) -> pd.DataFrame:
    return pd.read_parquet(out / BUILD_PATCHES_FILE)


def test_layout_and_metadata_readable_by_data_layer(built, tmp_path: Path) -> None:
    out, summary, _events = built
    assert {p.name for p in out.iterdir()} >= {S2_DIR, S1_DIR, REFERENCE_DIR, METADATA_FILE, SNOW_CLOUD_METADATA_FILE}
    metadata = read_metadata(out, include_snow_cloud=True)
    assert len(metadata) == summary.totals["kept"] > 0
    for split in ("train", "validation", "test"):
        dataset = ReBENDataset(out, split=split, bands=14, with_mask=True)
        assert len(dataset) > 0, split
        sample = dataset[0]
        assert sample["image"].shape == (14, 120, 120)
        assert sample["mask"].shape == (120, 120)
        assert sample["label"].sum() >= 1
    store = tmp_path / "store"
    encode(out, store, workers=0)
    assert len(ReBENDataset(store, split=None)) == summary.totals["clean"]


def test_summary_counts_every_drop_and_flag(built) -> None:
    out, summary, events = built
    totals = summary.totals
    assert totals["candidates"] == EXAMPLE_WINDOW.count
    assert totals["grid_cells"] == 91 * 91
    for reason in ("nodata", "unlabelled", "no_s1", "seasonal_snow", "cloud_or_shadow"):
        assert totals[reason] >= 1, reason
    assert totals["kept"] + totals["nodata"] + totals["unlabelled"] + totals["no_s1"] == totals["candidates"]
    assert totals["clean"] + totals["flagged"] == totals["kept"]
    flagged = pd.read_parquet(out / SNOW_CLOUD_METADATA_FILE)
    assert len(flagged) == totals["flagged"]
    assert (flagged["contains_seasonal_snow"] | flagged["contains_cloud_or_shadow"]).all()
    record = json.loads((out / BUILD_SUMMARY_FILE).read_text())
    assert record["totals"] == totals
    radiometry = record["tiles"][0]["radiometry"]
    assert radiometry["applied"]
    assert set(radiometry["boa_add_offset"].values()) == {-1000}
    assert radiometry["processing_baseline"] == "05.00"
    assert events[-1].finished
    assert events[-1].examined == EXAMPLE_WINDOW.count
    assert not (out / build_state.STATE_DIR / "staging").exists()


def test_names_follow_reben(built) -> None:
    out, _summary, _events = built
    frame = patches(out)
    assert (frame["tile"] == TILE).all()
    assert [p.name for p in (out / S2_DIR).iterdir()] == [TILE]
    for row in frame.itertuples():
        name = parse_s2_name(row.patch_id)
        assert (name.tile, name.x, name.y) == (TILE, row.x, row.y)
        assert name.s2v1_name == row.s2v1_name == f"S2A_MSIL2A_20170613T101031_{row.x}_{row.y}"
        s1 = parse_s1_name(row.s1_name)
        assert (s1.scene, s1.mgrs_tile, s1.x, s1.y) == ("S1A_IW_GRDH_1SDV_20170613T165043", "33UUP", row.x, row.y)
        assert (out / S1_DIR / s1.scene / row.s1_name / f"{row.s1_name}_VV.tif").is_file()


def test_labels_split_country_season_from_the_written_maps(built) -> None:
    out, _summary, _events = built
    frame = patches(out)
    for row in frame.itertuples():
        assert list(row.labels) == labels_from_codes(read_reference_map(out, row.patch_id))
    assert (frame["split"] == geographic_split(frame["x"].to_numpy(), frame["y"].to_numpy())).all()
    assert set(frame["split"]) == {"train", "validation", "test"}
    assert set(frame["country"]) == {"Austria"}
    assert set(frame["season"]) == {"summer"}
    assert (frame["unlabelled_fraction"] < 0.25).all()


def test_bands_have_native_sizes_grid_origin_and_no_offset(built, example) -> None:
    out, _summary, _events = built
    row = patches(out).iloc[0]
    bands = read_s2(out, row["patch_id"])
    product = read_product(example.s2)
    left, top = patch_origin("33UUP", int(row["x"]), int(row["y"]))
    for band in S2_BANDS:
        size = native_size(band)
        with rasterio.open(s2_band_path(out, row["patch_id"], band)) as written:
            assert (written.transform.c, written.transform.f, written.transform.a) == (left, top, 1200 / size)
        with rasterio.open(product.band_files[band]) as source:
            column = round((left - source.transform.c) / source.transform.a)
            line = round((source.transform.f - top) / source.transform.a)
            dn = source.read(1, window=Window(column, line, size, size)).astype(np.int64)
        np.testing.assert_array_equal(bands[band].astype(np.int64), np.maximum(dn - 1000, 1))
    assert read_s1(out, row["s1_name"])["VV"].dtype == np.float32


def test_rebuild_skips_committed_tiles_and_options_must_match(built, example) -> None:
    out, summary, _events = built
    before = pd.read_parquet(out / METADATA_FILE)
    again = build([example.s2], [example.s1], example.clc, out, workers=0)
    assert again.built == []
    assert again.totals == summary.totals
    pd.testing.assert_frame_equal(pd.read_parquet(out / METADATA_FILE), before)
    with pytest.raises(ConfigError, match="other options"):
        build([example.s2], [example.s1], example.clc, out, workers=0, options=BuildOptions(keep_baseline=True))


def test_refuses_a_foreign_folder(example, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not empty"):
        build([example.s2], [example.s1], example.clc, tmp_path, workers=0)


def test_example_product_is_jpeg2000_and_keeps_its_baseline_on_request(example) -> None:
    product = read_product(example.s2)
    assert product.tile_name() == TILE
    assert product.tile_name(keep_baseline=True) == TILE.replace("N9999", "N0500")
    for path in product.band_files.values():
        with rasterio.open(path) as source:
            assert source.driver == "JP2OpenJPEG"


def test_offsets_follow_the_processing_baseline(tmp_path: Path) -> None:
    old = make_example(tmp_path / "old", window=parse_window("40,40,1,1"), baseline="02.05", defects=False)
    product = read_product(old.s2)
    assert set(product.offsets.values()) == {0}
    assert product.tile_name(keep_baseline=True).split("_")[3] == "N0205"
    (old.s2 / "MTD_MSIL2A.xml").unlink()  # without product metadata, the baseline in the name decides
    assert set(read_product(old.s2).offsets.values()) == {0}
    new = make_example(tmp_path / "new", window=parse_window("40,40,1,1"), baseline="04.00", defects=False)
    renamed = new.s2.with_name(new.s2.name.replace("N0400", "N0511"))
    new.s2.rename(renamed)
    (renamed / "MTD_MSIL2A.xml").unlink()
    assert set(read_product(renamed).offsets.values()) == {-1000}
    assert "baseline 05.11" in read_product(renamed).offset_source
    values = to_reben(np.array([0, 1, 900, 1000, 1001, 11000], dtype=np.uint16), offset=-1000)
    np.testing.assert_array_equal(values, [0, 1, 1, 1, 1, 10000])


def test_quality_flags_count_scl_classes_and_skip_glaciers() -> None:
    scl = np.full((3, 60, 60), 4, dtype=np.uint8)
    codes = np.full((3, 120, 120), 211, dtype=np.uint16)
    scl[0, :6, :6] = 11  # 36 of 3600 pixels: 1 % snow
    scl[1, :6, :6] = 11
    codes[1, :12, :12] = 335  # ... on a glacier: not seasonal
    scl[2, :5, :6], scl[2, 5, :6] = 9, 3  # cloud and its shadow
    fractions = quality_fractions(scl, codes)
    np.testing.assert_allclose(fractions.snow, [0.01, 0.0, 0.0])
    np.testing.assert_allclose(fractions.cloud_or_shadow, [0.0, 0.0, 0.01])


def test_crash_half_way_leaves_nothing_half_written_and_resumes(built, example, tmp_path, monkeypatch) -> None:
    from bigearth.construct import tile as tile_module

    calls = {"count": 0}
    real_write = tile_module.write_band

    def failing_write(*args, **kwargs):
        calls["count"] += 1
        if calls["count"] == 200:
            raise CorruptDataError("disk trouble (simulated)")
        real_write(*args, **kwargs)

    out = tmp_path / "reben"
    monkeypatch.setattr(tile_module, "write_band", failing_write)
    with pytest.raises(CorruptDataError, match="simulated"):
        build([example.s2], [example.s1], example.clc, out, workers=0)
    assert not (out / METADATA_FILE).exists()
    assert not (out / S2_DIR).exists()
    assert not (out / S1_DIR).exists()
    assert not any((out / build_state.STATE_DIR / "staging").glob("*"))
    monkeypatch.setattr(tile_module, "write_band", real_write)
    resumed = build([example.s2], [example.s1], example.clc, out, workers=0)
    assert resumed.totals == built[1].totals
    pd.testing.assert_frame_equal(pd.read_parquet(out / METADATA_FILE), pd.read_parquet(built[0] / METADATA_FILE))


def test_interrupted_commit_is_finished_on_resume(built, example, tmp_path, monkeypatch) -> None:
    moves = {"count": 0}
    real_replace = build_state.os.replace

    def failing_replace(source, target):
        moves["count"] += 1
        if moves["count"] == 3:  # after the S2 and reference-map folders, in the middle of the S1 folders
            raise OSError("power cut (simulated)")
        real_replace(source, target)

    out = tmp_path / "reben"
    monkeypatch.setattr(build_state.os, "replace", failing_replace)
    with pytest.raises(OSError, match="simulated"):
        build([example.s2], [example.s1], example.clc, out, workers=0)
    assert not (out / METADATA_FILE).exists()
    monkeypatch.setattr(build_state.os, "replace", real_replace)
    resumed = build([example.s2], [example.s1], example.clc, out, workers=0)
    assert resumed.built == [TILE]
    assert resumed.totals == built[1].totals
    s1_folders = sorted(p.name for p in (out / S1_DIR).glob("*/*"))
    assert s1_folders == sorted(pd.read_parquet(out / BUILD_PATCHES_FILE)["s1_name"])


def test_same_build_on_an_existing_dask_cluster(built, example, tmp_path: Path) -> None:
    from distributed import LocalCluster

    out = tmp_path / "reben"
    events = []
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        summary = build([example.s2], [example.s1], example.clc, out, scheduler=cluster.scheduler_address,
                        progress=events.append)  # fmt: skip
    assert summary.totals == built[1].totals
    pd.testing.assert_frame_equal(pd.read_parquet(out / METADATA_FILE), pd.read_parquet(built[0] / METADATA_FILE))
    assert any(not event.finished for event in events)
    assert events[-1].finished


def test_cli_build_example_then_build_on_a_local_cluster(tmp_path: Path) -> None:
    runner = CliRunner()
    inputs = tmp_path / "inputs"
    result = runner.invoke(app, ["build-example", str(inputs), "--window", "12,22,3,2"])
    assert result.exit_code == 0, result.output
    assert "bigearth build --s2" in result.output
    clc = next((inputs / "clc").glob("*.gpkg"))
    out = tmp_path / "reben"
    args = ["build", "--s2", str(inputs / "s2"), "--s1", str(inputs / "s1"), "--clc", str(clc), str(out)]
    result = runner.invoke(app, [*args, "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert "kept" in result.output
    assert (out / METADATA_FILE).is_file()
    result = runner.invoke(app, [*args, "--keep-baseline", "--workers", "0"])
    assert result.exit_code == 1
    assert "other options" in result.output
