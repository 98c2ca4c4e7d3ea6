"""The mini-reBEN: layout and file properties, metadata, splits, repeated acquisitions, determinism and signal."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import rasterio

from bigearth.bands import REBEN_STATS, S1_BANDS, S2_BANDS, native_size
from bigearth.data.geo import geographic_split, patch_latlon, patch_origin, utm_epsg
from bigearth.data.geotiff import read_reference_map, read_s1, read_s2
from bigearth.data.layout import (
    METADATA_FILE,
    METADATA_SCHEMA,
    S1_DIR,
    S2_DIR,
    SNOW_CLOUD_METADATA_FILE,
    SPLITS,
    parse_s1_name,
    parse_s2_name,
    reference_map_path,
    s1_band_path,
    s2_band_path,
)
from bigearth.data.metadata import read_metadata
from bigearth.data.synth import (
    MARKER_FILE,
    MAX_REGIONS,
    MIN_REGION_FRACTION,
    PatchArrays,
    is_mini_reben,
    plan,
    reference_map,
    render_patch,
    synthesize,
)
from bigearth.data.synth_signatures import TILES
from bigearth.errors import BigEarthError, ConfigError
from bigearth.nomenclature import CLASSES_TABLE, IGNORE_INDEX, NUM_CLASSES, clc_to_index, labels_from_codes

PATCHES = 80
ACQUISITIONS = [acquisition for tile in TILES for acquisition in tile.acquisitions]
#: S2 product (tile folder) -> its acquisition.
BY_PRODUCT = {acquisition.product: acquisition for acquisition in ACQUISITIONS}
SEED = 3

#: Rough (lat_min, lat_max, lon_min, lon_max) of each reBEN country, to check that tiles are where they claim.
COUNTRY_BOXES = {
    "Austria": (46.3, 49.1, 9.5, 17.2),
    "Belgium": (49.4, 51.6, 2.5, 6.5),
    "Finland": (59.7, 70.1, 20.5, 31.6),
    "Ireland": (51.4, 55.4, -10.5, -5.9),
    "Lithuania": (53.9, 56.5, 20.9, 26.9),
    "Portugal": (36.9, 42.2, -9.6, -6.1),
    "Serbia": (42.2, 46.2, 18.8, 23.1),
    "Switzerland": (45.8, 47.9, 5.9, 10.5),
}


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    root = tmp_path_factory.mktemp("synth") / "release"
    calls: list[tuple[int, int]] = []
    frame = synthesize(root, patches=PATCHES, seed=SEED, progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (PATCHES, PATCHES)
    assert len(calls) == PATCHES
    return root, frame


@pytest.fixture(scope="module")
def plan_300() -> pd.DataFrame:
    return plan(300, seed=0)


def _clean(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[~(frame["contains_seasonal_snow"] | frame["contains_cloud_or_shadow"])]


def test_layout_counts(release: tuple[Path, pd.DataFrame]) -> None:
    root, frame = release
    assert len(frame) == PATCHES
    assert frame["patch_id"].is_unique
    assert frame["s1_name"].is_unique
    tiles = sorted(p.name for p in (root / S2_DIR).iterdir())
    assert set(tiles) <= {acquisition.product for acquisition in ACQUISITIONS}
    assert len(tiles) > len(TILES)  # several dates per tile
    assert sum(1 for _ in (root / S2_DIR).glob("*/*")) == PATCHES
    assert sum(1 for _ in (root / S1_DIR).glob("*/*")) == PATCHES
    assert len(list((root / S2_DIR).glob("*/*/*.tif"))) == PATCHES * len(S2_BANDS)
    assert len(list((root / S1_DIR).glob("*/*/*.tif"))) == PATCHES * len(S1_BANDS)
    marker = json.loads((root / MARKER_FILE).read_text())
    assert marker["complete"] is True
    assert marker["patches"] == PATCHES
    assert marker["seed"] == SEED
    assert is_mini_reben(root)


def test_file_properties(release: tuple[Path, pd.DataFrame]) -> None:
    root, frame = release
    for row in frame.iloc[::9].to_dict("records"):
        epsg = utm_epsg(row["tile"])
        ulx, uly = patch_origin(row["tile"], row["x"], row["y"])
        for band in S2_BANDS:
            with rasterio.open(s2_band_path(root, row["patch_id"], band)) as source:
                size = native_size(band)
                assert (source.width, source.height, source.count) == (size, size, 1)
                assert source.dtypes[0] == "uint16"
                assert source.nodata == 0
                assert source.crs.to_epsg() == epsg
                assert source.compression is None
                assert source.transform.c == ulx
                assert source.transform.f == uly
                assert source.transform.a == pytest.approx(1200 / size)
                assert source.transform.e == pytest.approx(-1200 / size)
                assert source.read(1).min() >= 1  # reBEN has no nodata pixels
        for band in S1_BANDS:
            with rasterio.open(s1_band_path(root, row["s1_name"], band)) as source:
                assert (source.width, source.height) == (120, 120)
                assert source.dtypes[0] == "float32"
                assert source.nodata is None
                assert source.crs.to_epsg() == epsg
                assert (source.transform.c, source.transform.f) == (ulx, uly)
        with rasterio.open(reference_map_path(root, row["patch_id"])) as source:
            assert (source.width, source.height) == (120, 120)
            assert source.dtypes[0] == "uint16"
            assert source.compression.name.lower() == "deflate"
            assert source.nodata == 0
            assert (source.transform.c, source.transform.f) == (ulx, uly)


def test_arrays_read_back_like_real_patches(release: tuple[Path, pd.DataFrame]) -> None:
    root, frame = release
    row = frame.iloc[0].to_dict()
    s2 = read_s2(root, row["patch_id"])
    s1 = read_s1(root, row["s1_name"])
    arrays = render_patch(row, SEED)
    for band in S2_BANDS:
        np.testing.assert_array_equal(s2[band], arrays.s2[band])
    for band in S1_BANDS:
        np.testing.assert_array_equal(s1[band], arrays.s1[band])
        assert -40 < float(s1[band].mean()) < 5
    np.testing.assert_array_equal(read_reference_map(root, row["patch_id"]), arrays.reference_map)


def test_metadata_schema_names_and_split(release: tuple[Path, pd.DataFrame]) -> None:
    root, frame = release
    for name in (METADATA_FILE, SNOW_CLOUD_METADATA_FILE):
        assert pq.read_schema(root / name).remove_metadata().equals(METADATA_SCHEMA)
    metadata = read_metadata(root, include_snow_cloud=True)
    assert sorted(metadata["patch_id"]) == sorted(frame["patch_id"])
    countries = {tile.mgrs: tile.country for tile in TILES}
    for row in metadata.to_dict("records"):
        s2 = parse_s2_name(row["patch_id"])
        s1 = parse_s1_name(row["s1_name"])
        assert "_N9999_" in row["patch_id"]
        assert (s1.mgrs_tile, s1.x, s1.y) == (s2.mgrs_tile, s2.x, s2.y)
        assert s1.scene == BY_PRODUCT[s2.tile].s1_scene
        assert abs((s1.sensing_time - s2.sensing_time).days) <= 3
        assert row["s2v1_name"] == s2.s2v1_name
        assert row["country"] == countries[s2.mgrs_tile]
        assert row["split"] == geographic_split(s2.x, s2.y)
        labels = list(row["labels"])
        assert labels == labels_from_codes(read_reference_map(root, row["patch_id"]))
        assert labels == sorted(labels)
        assert 1 <= len(labels) <= MAX_REGIONS


def test_reference_maps_are_coherent_regions(release: tuple[Path, pd.DataFrame]) -> None:
    root, frame = release
    unlabelled_patches = 0
    for row in frame.to_dict("records"):
        codes = read_reference_map(root, row["patch_id"])
        np.testing.assert_array_equal(codes, reference_map(row, SEED))
        indices = clc_to_index(codes)
        unlabelled = (indices == IGNORE_INDEX).mean()
        assert unlabelled < 0.25
        unlabelled_patches += unlabelled > 0
        areas = np.bincount(indices[indices != IGNORE_INDEX], minlength=NUM_CLASSES)
        assert areas[areas > 0].min() >= MIN_REGION_FRACTION * 120 * 120 * 2 / 3  # no one-pixel labels
    assert unlabelled_patches < len(frame) / 4


def test_flagged_patches_only_in_second_file(release: tuple[Path, pd.DataFrame]) -> None:
    root, frame = release
    clean = pq.read_table(root / METADATA_FILE).to_pandas()
    flagged = pq.read_table(root / SNOW_CLOUD_METADATA_FILE).to_pandas()
    assert len(flagged) > 0
    assert not (clean["contains_seasonal_snow"] | clean["contains_cloud_or_shadow"]).any()
    assert (flagged["contains_seasonal_snow"] | flagged["contains_cloud_or_shadow"]).all()
    assert not (flagged["contains_seasonal_snow"] & flagged["contains_cloud_or_shadow"]).any()
    assert set(clean["patch_id"]).isdisjoint(flagged["patch_id"])
    # snowy and cloudy patches are bright in the visible over part of the patch, clean ones rarely are
    bright = {}
    for row in frame.to_dict("records"):
        blue = read_s2(root, row["patch_id"], ("B02",))["B02"]
        bright[row["patch_id"]] = (blue > 3000).mean()
    assert min(bright[p] for p in flagged["patch_id"]) > 0.1
    assert np.median([bright[p] for p in clean["patch_id"]]) == 0


def test_flags_are_plausible(plan_300: pd.DataFrame) -> None:
    flagged = plan_300["contains_seasonal_snow"] | plan_300["contains_cloud_or_shadow"]
    assert 0.05 <= flagged.mean() <= 0.12
    snowy = plan_300.loc[plan_300["contains_seasonal_snow"], "patch_id"]
    assert {BY_PRODUCT[parse_s2_name(name).tile].season for name in snowy} <= {"winter", "autumn"}
    assert plan_300["contains_cloud_or_shadow"].any()


def test_splits_follow_the_rule_and_all_get_patches(plan_300: pd.DataFrame) -> None:
    np.testing.assert_array_equal(plan_300["split"], geographic_split(plan_300["x"], plan_300["y"]))
    assert not plan_300.duplicated(["tile", "x", "y", "s2v1_name"]).any()
    assert plan_300["x"].between(0, 90).all()
    assert plan_300["y"].between(0, 90).all()
    for _, tile in plan_300.groupby("tile"):
        assert set(tile["split"]) == set(SPLITS)
    shares = plan_300["split"].value_counts(normalize=True)
    assert shares["train"] == pytest.approx(0.5, abs=0.05)


@pytest.mark.parametrize("seed", [0, 1])
def test_every_class_in_every_clean_split(seed: int) -> None:
    frame = _clean(plan(300, seed=seed))
    for split in SPLITS:
        present = {label for labels in frame.loc[frame["split"] == split, "labels"] for label in labels}
        assert present == set(CLASSES_TABLE), f"split {split} lacks {set(CLASSES_TABLE) - present}"


def test_tiles_are_real_places() -> None:
    assert len({tile.mgrs for tile in TILES}) == len(TILES) >= 6
    assert {acquisition.season for acquisition in ACQUISITIONS} == {"spring", "summer", "autumn", "winter"}
    for tile in TILES:
        lat, lon = patch_latlon(tile.mgrs, 45, 45)
        lat_min, lat_max, lon_min, lon_max = COUNTRY_BOXES[tile.country]
        assert lat_min - 0.5 < float(lat) < lat_max + 0.5, tile.mgrs
        assert lon_min - 0.8 < float(lon) < lon_max + 0.8, tile.mgrs


@pytest.mark.parametrize("patches", [1, 7, 13, 300])
def test_patch_count_is_the_number_of_acquisitions(patches: int) -> None:
    frame = plan(patches, seed=2)
    assert len(frame) == patches
    assert frame["patch_id"].is_unique


def test_locations_are_imaged_on_their_tile_dates(plan_300: pd.DataFrame) -> None:
    names = [parse_s2_name(name) for name in plan_300["patch_id"]]
    dates: dict[tuple[str, int, int], list[str]] = {}
    for name in names:
        dates.setdefault((name.mgrs_tile, name.x, name.y), []).append(name.tile)
    products = {tile.mgrs: {a.product for a in tile.acquisitions} for tile in TILES}
    counts = {mgrs: [] for mgrs in products}
    for (mgrs, _, _), seen in dates.items():
        assert len(set(seen)) == len(seen)  # one acquisition per date
        assert set(seen) <= products[mgrs]
        counts[mgrs].append(len(seen))
    for tile in TILES:  # as in reBEN, every location but a few (here fewer than the dates) is on all dates
        assert sum(n < len(tile.acquisitions) for n in counts[tile.mgrs]) < len(tile.acquisitions), tile.mgrs
    repeated = np.mean([len(seen) >= 2 for seen in dates.values()])
    assert 0.4 < repeated < 0.8  # reBEN: 139,499 of 233,966 locations (0.60) on 2 to 4 dates
    assert max(len(seen) for seen in dates.values()) == 4
    for _, place in plan_300.groupby(["tile", "x", "y"]):
        assert place["split"].nunique() == place["location"].nunique() == place["country"].nunique() == 1
        assert len({tuple(labels) for labels in place["labels"]}) == 1
        assert place["s1_name"].is_unique


def test_acquisitions_of_a_place_share_its_map_and_change_with_the_season(plan_300: pd.DataFrame) -> None:
    seasons = plan_300["patch_id"].map(lambda name: BY_PRODUCT[parse_s2_name(name).tile].season)
    belgium = plan_300[(plan_300["tile"] == "31UER") & ~plan_300["contains_cloud_or_shadow"]]
    place = belgium.groupby("location").filter(lambda rows: len(rows) == 4)["location"].iloc[0]
    rows = belgium[belgium["location"] == place]
    arrays = {seasons[i]: render_patch(row, 0) for i, row in rows.iterrows()}
    assert set(arrays) == {"spring", "summer", "autumn", "winter"}
    for season in arrays:
        np.testing.assert_array_equal(arrays[season].reference_map, arrays["summer"].reference_map)
    summer, winter = arrays["summer"].s2["B08"].astype(float), arrays["winter"].s2["B08"].astype(float)
    vegetated = np.isin(clc_to_index(arrays["summer"].reference_map), [2, 3, 4, 5, 6, 8, 9, 10])
    assert vegetated.mean() > 0.2
    assert summer[vegetated].mean() > winter[vegetated].mean()  # vegetation is greener in summer
    other = render_patch(belgium[belgium["location"] != place].iloc[0], 0).s2["B08"].astype(float)
    # the same place on two dates looks alike; two places do not
    assert np.corrcoef(summer.ravel(), winter.ravel())[0, 1] > np.corrcoef(summer.ravel(), other.ravel())[0, 1] + 0.2


def _ndvi(arrays: PatchArrays, classes: list[str]) -> float:
    """Mean NDVI of a patch's pixels of the given classes (B08 and B04, both 10 m)."""
    mask = np.isin(clc_to_index(arrays.reference_map), [CLASSES_TABLE.index(name) for name in classes])
    nir, red = arrays.s2["B08"][mask].astype(float), arrays.s2["B04"][mask].astype(float)
    return float(np.mean((nir - red) / (nir + red)))


def test_phenology_follows_the_climate() -> None:
    frame = plan(240, seed=2)  # a draw with places of grass on both dates of both tiles
    seasons = frame["patch_id"].map(lambda name: BY_PRODUCT[parse_s2_name(name).tile].season)
    grass = ["Pastures", "Natural grassland and sparsely vegetated areas", "Broad-leaved forest", "Mixed forest",
             "Transitional woodland, shrub"]  # fmt: skip
    has_grass = frame["labels"].map(lambda labels: bool(set(labels) & set(grass)))
    clean = ~(frame["contains_seasonal_snow"] | frame["contains_cloud_or_shadow"])
    # Mediterranean Portugal: greener in May than in the dry August; subarctic Finland: greener in May than November
    for mgrs, green, brown in (("29SNC", "spring", "summer"), ("35VNK", "spring", "autumn")):
        rows = frame[(frame["tile"] == mgrs) & has_grass & clean]
        pairs = 0
        for _, place in rows.groupby("location"):
            by_season = {seasons[i]: render_patch(row, 2) for i, row in place.iterrows()}
            if green in by_season and brown in by_season:
                assert _ndvi(by_season[green], grass) > _ndvi(by_season[brown], grass) + 0.05, mgrs
                pairs += 1
        assert pairs >= 2, mgrs


def test_geography_carries_land_cover() -> None:
    frame = plan(2400, seed=0)  # 75 Portuguese places: at 600 patches (19) the rare-class rule fills most of them

    def share(rows: pd.DataFrame, name: str) -> float:
        return float(np.mean([name in labels for labels in rows["labels"]]))

    by_tile = {mgrs: rows for mgrs, rows in frame.groupby("tile")}
    assert share(by_tile["35VNK"], "Coniferous forest") > 2 * share(by_tile["29SNC"], "Coniferous forest")
    assert share(by_tile["29SNC"], "Agro-forestry areas") > 3 * share(by_tile["33UUP"], "Agro-forestry areas")
    assert share(by_tile["29UPV"], "Pastures") > 2 * share(by_tile["35VNK"], "Pastures")
    portugal = by_tile["29SNC"]  # the coast is in the west of the tile
    west, east = portugal[portugal["x"] < 30], portugal[portugal["x"] >= 60]
    assert share(west, "Marine waters") > 2 * share(east, "Marine waters")


def test_same_seed_same_bytes_other_seed_differs(tmp_path: Path) -> None:
    first = synthesize(tmp_path / "a", patches=40, seed=11)
    second = synthesize(tmp_path / "b", patches=40, seed=11)
    pd.testing.assert_frame_equal(first, second)
    for name in (METADATA_FILE, SNOW_CLOUD_METADATA_FILE):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    for row in first.iloc[[0, 17, 39]].to_dict("records"):
        files = [
            s2_band_path(Path(), row["patch_id"], "B02"),
            s2_band_path(Path(), row["patch_id"], "B01"),
            s1_band_path(Path(), row["s1_name"], "VH"),
            reference_map_path(Path(), row["patch_id"]),
        ]
        for file in files:
            assert (tmp_path / "a" / file).read_bytes() == (tmp_path / "b" / file).read_bytes()
    other = plan(40, seed=12)
    assert list(other["patch_id"]) != list(first["patch_id"])
    assert not np.array_equal(render_patch(first.iloc[0], 11).s2["B02"], render_patch(other.iloc[0], 12).s2["B02"])


def test_render_patch_is_pure(plan_300: pd.DataFrame) -> None:
    row = plan_300.iloc[5]
    a, b = render_patch(row, 0), render_patch(row.to_dict(), 0)
    for band in S2_BANDS:
        assert a.s2[band].dtype == np.uint16
        assert a.s2[band].shape == (native_size(band),) * 2
        np.testing.assert_array_equal(a.s2[band], b.s2[band])
    for band in S1_BANDS:
        assert a.s1[band].dtype == np.float32
        assert a.s1[band].shape == (120, 120)
        np.testing.assert_array_equal(a.s1[band], b.s1[band])
    assert a.reference_map.dtype == np.uint16
    np.testing.assert_array_equal(a.reference_map, b.reference_map)


def test_band_magnitudes_near_reben_statistics(plan_300: pd.DataFrame) -> None:
    means = {band: [] for band in (*S2_BANDS, *S1_BANDS)}
    for row in plan_300.iloc[::5].to_dict("records"):
        arrays = render_patch(row, 0)
        for band in S2_BANDS:
            means[band].append(arrays.s2[band].mean())
        for band in S1_BANDS:
            means[band].append(arrays.s1[band].mean())
    for band in S2_BANDS:
        assert 0.6 < np.mean(means[band]) / REBEN_STATS[band].mean < 1.7, band
    for band in S1_BANDS:
        assert abs(np.mean(means[band]) - REBEN_STATS[band].mean) < 2.5, band


def _features(s2: dict[str, np.ndarray], s1: dict[str, np.ndarray]) -> np.ndarray:
    """(16, 120, 120): log reflectance of the 12 S2 bands (nearest upsampled) and S1 dB / 10."""
    bands = [np.kron(s2[band], np.ones((120 // native_size(band),) * 2)) for band in S2_BANDS]
    return np.concatenate([np.log(np.stack(bands)), np.stack([s1[band] for band in S1_BANDS]) / 10])


def test_signal_is_learnable_in_context_and_appearance_varies_with_the_acquisition(plan_300: pd.DataFrame) -> None:
    """Region averages of the training split classify the other splits' regions of the same acquisition (nearest
    centroid among the classes seen there); centroids pooled over all acquisitions do worse (phenology, moisture,
    light and haze move a class's look), and single pixels do worse still (texture and noise)."""
    rng = np.random.default_rng(0)
    regions: dict[str, list[tuple[np.ndarray, np.ndarray, int, str]]] = {"train": [], "other": []}
    for row in _clean(plan_300).iloc[:200].to_dict("records"):
        arrays = render_patch(row, 0)
        features = _features(arrays.s2, arrays.s1)
        indices = clc_to_index(arrays.reference_map)
        part = "train" if row["split"] == "train" else "other"
        product = parse_s2_name(row["patch_id"]).tile
        for klass in np.unique(indices[indices != IGNORE_INDEX]):
            pixels = features[:, indices == klass]
            sample = pixels[:, rng.choice(pixels.shape[1], 10, replace=False)].T
            regions[part].append((pixels.mean(axis=1), sample, int(klass), product))
    assert {k for _, _, k, _ in regions["train"]} == set(range(NUM_CLASSES))
    grouped: dict[tuple[str, int], list[np.ndarray]] = {}
    pooled: dict[int, list[np.ndarray]] = {}
    for mean, _, klass, product in regions["train"]:
        grouped.setdefault((product, klass), []).append(mean)
        pooled.setdefault(klass, []).append(mean)
    in_context = {key: np.mean(means, axis=0) for key, means in grouped.items()}
    overall = {klass: np.mean(means, axis=0) for klass, means in pooled.items()}
    hits: dict[str, list[bool]] = {"context": [], "pooled": [], "pixels": []}
    for mean, sample, klass, product in regions["other"]:
        candidates = [c for (p, c) in in_context if p == product]
        if klass not in candidates or len(candidates) < 2:
            continue

        def nearest(x: np.ndarray, centroids: list[np.ndarray], candidates: list[int] = candidates) -> int:
            return candidates[int(np.argmin([((x - centroid) ** 2).sum() for centroid in centroids]))]

        local = [in_context[product, c] for c in candidates]
        hits["context"].append(nearest(mean, local) == klass)
        hits["pooled"].append(nearest(mean, [overall[c] for c in candidates]) == klass)
        hits["pixels"] += [nearest(pixel, local) == klass for pixel in sample]
    accuracy = {name: float(np.mean(values)) for name, values in hits.items()}
    assert len(hits["context"]) > 100
    assert accuracy["context"] > 0.75
    assert accuracy["pooled"] < accuracy["context"] - 0.05
    assert accuracy["pixels"] < accuracy["context"] - 0.15


def test_rewrites_a_previous_mini_reben(tmp_path: Path) -> None:
    root = tmp_path / "mini"
    synthesize(root, patches=24, seed=0)
    frame = synthesize(root, patches=10, seed=1)
    assert sum(1 for _ in (root / S2_DIR).glob("*/*")) == 10
    assert sorted(read_metadata(root, include_snow_cloud=True)["patch_id"]) == sorted(frame["patch_id"])


def test_refuses_foreign_folders_and_bad_arguments(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(BigEarthError, match="not empty"):
        synthesize(tmp_path, patches=8)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    with pytest.raises(BigEarthError, match="is a file"):
        synthesize(tmp_path / "notes.txt", patches=8)
    with pytest.raises(ConfigError, match="at least 1 patch"):
        plan(0)
    with pytest.raises(ConfigError, match="non-negative"):
        plan(10, seed=-1)
