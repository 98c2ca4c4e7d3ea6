"""The build against the real reBEN references: its labels, split, names and files agree with the official ones."""

from pathlib import Path

import numpy as np
import pandas as pd
import rasterio

from bigearth.construct import build
from bigearth.construct.country import country_of
from bigearth.construct.fixtures import EXAMPLE_TILE, make_example
from bigearth.construct.grid import CellBlock, TileGrid
from bigearth.construct.safe import TileGeocoding
from bigearth.construct.tile import label_patches
from bigearth.data.geo import tile_origin, utm_epsg
from bigearth.data.index import coordinates
from bigearth.data.layout import REFERENCE_DIR, S1_DIR, S2_DIR, parse_s2_name

S2_SAMPLE = "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP_75_43"
S1_SAMPLE = "S1A_IW_GRDH_1SDV_20170613T165043_33UUP_70_48"
MAP_SAMPLE = "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP_26_57"


def official(reference: Path) -> pd.DataFrame:
    files = ("metadata.parquet", "metadata_for_patches_with_snow_cloud_or_shadow.parquet")
    return pd.concat([pd.read_parquet(reference / name) for name in files], ignore_index=True)


def grid_of(mgrs_tile: str) -> TileGrid:
    ulx, uly = tile_origin(mgrs_tile)
    geocoding = TileGeocoding(epsg=utm_epsg(mgrs_tile), ulx=ulx, uly=uly, size_m=109_800)
    return TileGrid.from_geocoding(mgrs_tile, geocoding, source="test")


def only_file(folder: Path, pattern: str = "*.tif") -> Path:
    (path,) = folder.rglob(pattern)
    return path


def test_labels_from_the_real_reference_map_equal_official_labels(reference: Path) -> None:
    with rasterio.open(only_file(reference / "samples" / REFERENCE_DIR)) as source:
        codes = source.read(1)
    labels, unlabelled = label_patches(codes[None])
    row = official(reference).set_index("patch_id").loc[MAP_SAMPLE]
    assert labels[0] == list(row["labels"])
    assert unlabelled[0] < 0.25


def test_build_split_of_official_ids_equals_official_split(reference: Path) -> None:
    frame = official(reference)
    parts = frame["patch_id"].str.extract(r"_T(?P<mgrs>\d{2}[A-Z]{3})_(?P<x>\d{2})_(?P<y>\d{2})$")
    grid = grid_of(EXAMPLE_TILE)  # the split depends on the cell only, the same for every tile
    split = grid.split(parts["x"].astype(int).to_numpy(), parts["y"].astype(int).to_numpy())
    assert len(frame) == 549_488
    assert (split == frame["split"].to_numpy()).all()


def test_sample_cells_sit_where_the_build_puts_them(reference: Path) -> None:
    grid = grid_of("33UUP")
    for folder, name in ((S2_DIR, S2_SAMPLE), (S1_DIR, S1_SAMPLE), (REFERENCE_DIR, MAP_SAMPLE)):
        x, y = (int(part) for part in name.rsplit("_", 2)[1:])
        with rasterio.open(next((reference / "samples" / folder).rglob(f"{name}_*.tif"))) as source:
            assert (source.transform.c, source.transform.f) == grid.cell_origin(x, y)


def test_built_files_look_like_the_real_samples(reference: Path, tmp_path: Path) -> None:
    example = make_example(tmp_path / "inputs", window=CellBlock(75, 43, 1, 1), defects=False)
    out = tmp_path / "reben"
    summary = build([example.s2], [example.s1], example.clc, out, workers=0)
    assert summary.totals["kept"] == 1
    built_s2 = sorted((out / S2_DIR).rglob(f"{S2_SAMPLE}_*.tif"))
    real_s2 = sorted((reference / "samples" / S2_DIR).rglob(f"{S2_SAMPLE}_*.tif"))
    assert [p.name for p in built_s2] == [p.name for p in real_s2]
    assert parse_s2_name(S2_SAMPLE).tile in {p.name for p in (out / S2_DIR).iterdir()}
    pairs = list(zip(built_s2, real_s2, strict=True))
    pairs.append((only_file(out / S1_DIR, "*_VV.tif"), only_file(reference / "samples" / S1_DIR, "*_VV.tif")))
    pairs.append((only_file(out / REFERENCE_DIR), only_file(reference / "samples" / REFERENCE_DIR)))
    for built_file, real_file in pairs:
        with rasterio.open(built_file) as made, rasterio.open(real_file) as real:
            for key in ("driver", "dtype", "nodata", "width", "height", "count", "crs", "blockysize", "tiled"):
                assert made.profile.get(key) == real.profile.get(key), (real_file.name, key)
            assert made.compression == real.compression, real_file.name
            assert made.transform.a == real.transform.a
            assert made.transform.e == real.transform.e
            assert made.tags() == real.tags()
            if real_file.name.startswith(S2_SAMPLE):  # the same cell: the same place
                assert made.transform == real.transform
    with rasterio.open(only_file(out / S1_DIR, "*_VH.tif")) as vh:
        assert np.isfinite(vh.read(1)).all()


def test_country_of_official_patches_agrees_with_official_country(reference: Path) -> None:
    frame = official(reference).sample(20_000, random_state=0)
    lat, lon = coordinates(frame["patch_id"])
    agreement = (country_of(lat, lon) == frame["country"].to_numpy()).mean()
    assert agreement > 0.998  # the rest lie on the Belgium/Luxembourg and Serbia/Kosovo borders
