"""The mini-reBEN's label sets: the committed table against the real metadata, and how they are drawn."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bigearth.data.synth import plan
from bigearth.data.synth_labels import LABEL_SETS_FILE, draw_label_set, label_set_table, label_sets
from bigearth.data.synth_signatures import TILES
from bigearth.errors import ConfigError, MissingDataError
from bigearth.nomenclature import CLASSES_TABLE, NUM_CLASSES

TABLE = json.loads(LABEL_SETS_FILE.read_text())


def test_table_records_where_it_came_from() -> None:
    assert TABLE["source"] == "metadata.parquet"
    assert TABLE["md5"] == "55687065e77b6d0b0f1ff604a6e7b49c"  # the release's file (../shared/reben/README.md)
    assert TABLE["made_by"] == "scripts/make_label_sets.py"
    assert set(TABLE["countries"]) == {tile.country for tile in TILES}
    for country in TABLE["countries"].values():
        counts = list(country["label_sets"].values())
        assert counts == sorted(counts, reverse=True)
        assert sum(counts) == country["kept"] <= 0.95 * country["patches"]
        assert len(counts) <= 300


def test_table_is_the_real_metadata(reference: Path) -> None:
    metadata = reference / "metadata.parquet"
    assert label_set_table(metadata) == TABLE
    # the same counts, computed here another way: the most frequent set of Austria and Portugal
    frame = pd.read_parquet(metadata, columns=["labels", "country"])
    for country in ("Austria", "Portugal"):
        sets = frame.loc[frame["country"] == country, "labels"].map(tuple).value_counts()
        top, count = sets.index[0], int(sets.iloc[0])
        key = ";".join(str(i) for i in sorted(CLASSES_TABLE.index(name) for name in top))
        assert TABLE["countries"][country]["label_sets"][key] == count
        assert TABLE["countries"][country]["patches"] == int(sets.sum())


def test_draws_follow_the_table() -> None:
    hot, probability = label_sets("Finland")
    assert hot.shape == (len(probability), NUM_CLASSES)
    assert probability.sum() == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    draws = [tuple(draw_label_set("Finland", np.ones(NUM_CLASSES), rng, tempering=0.0)) for _ in range(4000)]
    top = tuple(np.flatnonzero(hot[0]))
    assert np.mean([d == top for d in draws]) == pytest.approx(probability[0], abs=0.025)
    counts = TABLE["countries"]["Finland"]["label_sets"]
    expected_classes = sum(len(k.split(";")) * n for k, n in counts.items()) / sum(counts.values())
    assert np.mean([len(d) for d in draws]) == pytest.approx(expected_classes, abs=0.1)


def test_tempering_favours_sets_with_rare_classes() -> None:
    # by hand from the table's counts: a set's weight is its count / (share of patches with its rarest class)
    counts = TABLE["countries"]["Finland"]["label_sets"]
    total = sum(counts.values())
    share = {c: sum(n for k, n in counts.items() if c in k.split(";")) / total for k in counts for c in k.split(";")}
    weight = {k: n / min(share[c] for c in k.split(";")) for k, n in counts.items()}
    favourite = max(weight, key=weight.__getitem__)
    expected = weight[favourite] / sum(weight.values())
    rng = np.random.default_rng(2)
    draws = [draw_label_set("Finland", np.ones(NUM_CLASSES), rng, tempering=1.0) for _ in range(4000)]
    hits = np.mean([";".join(map(str, d)) == favourite for d in draws])
    assert hits == pytest.approx(expected, abs=0.025)
    rarest = min(share, key=share.__getitem__)  # drawn far more often than in the table
    assert np.mean([int(rarest) in d for d in draws]) > 2 * share[rarest]


def test_a_negative_tempering_is_refused() -> None:
    with pytest.raises(ConfigError, match="tempering must be >= 0"):
        draw_label_set("Finland", np.ones(NUM_CLASSES), np.random.default_rng(0), tempering=-0.5)


def test_a_tilt_moves_draws_towards_a_class() -> None:
    water = CLASSES_TABLE.index("Marine waters")
    tilt = np.ones(NUM_CLASSES)
    tilt[water] = 1e6
    rng = np.random.default_rng(1)
    assert all(water in draw_label_set("Portugal", tilt, rng) for _ in range(50))
    rng = np.random.default_rng(1)
    assert not any(water in draw_label_set("Austria", tilt, rng) for _ in range(50))  # no sea in Austria's sets


def test_plan_keeps_the_real_classes_per_patch_and_countries() -> None:
    frame = plan(1200, seed=4)
    # Portugal's places receive most of the classes that the rare-class rule adds (docs/synthetic.md)
    for country, rows in frame[frame["country"] != "Portugal"].groupby("country"):
        counts = TABLE["countries"][country]["label_sets"]
        expected = sum(len(k.split(";")) * n for k, n in counts.items()) / sum(counts.values())
        locations = rows.drop_duplicates("location")
        assert locations["labels"].map(len).mean() == pytest.approx(expected, abs=0.5), country
    finland = frame[frame["country"] == "Finland"].drop_duplicates("location")
    assert np.mean(["Coniferous forest" in labels for labels in finland["labels"]]) > 0.6
    portugal = frame[frame["country"] == "Portugal"].drop_duplicates("location")
    assert np.mean(["Agro-forestry areas" in labels for labels in portugal["labels"]]) > 0.1


def test_plan_puts_every_class_on_a_share_of_each_split() -> None:
    frame = plan(600, seed=0)
    clean = frame[~(frame["contains_seasonal_snow"] | frame["contains_cloud_or_shadow"])]
    for split, rows in clean.drop_duplicates("location").groupby("split"):
        needed = int(np.ceil(0.05 * len(rows)))  # MIN_CLASS_SHARE of the split's clean locations
        for name in CLASSES_TABLE:
            assert sum(name in labels for labels in rows["labels"]) >= needed, (split, name)


def test_unknown_country_names_the_table() -> None:
    with pytest.raises(MissingDataError, match=r"reben_label_sets\.json.*Atlantis"):
        label_sets("Atlantis")
