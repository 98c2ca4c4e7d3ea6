"""Label sets of the mini-reBEN, drawn from the joint distribution of the real reBEN metadata.

The table ``reben_label_sets.json`` beside this module holds, per country of the mini-reBEN's tiles, how many
clean patches of reBEN (``metadata.parquet``) carry each label set: the most frequent sets that together cover
up to :data:`COVERAGE` of the country's patches, at most :data:`MAX_SETS` of them. It keeps the number of classes
per patch, which classes occur together, and how both differ between countries. ``scripts/make_label_sets.py``
makes it with :func:`label_set_table`, which records the source file's md5 and the rule; a test rebuilds it from
``../shared/reben`` where that exists. A user's clone reads only the committed table.
"""

import functools
import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bigearth.data.synth_signatures import TILES
from bigearth.errors import ConfigError, MissingDataError
from bigearth.nomenclature import CLASSES_TABLE

LABEL_SETS_FILE = Path(__file__).with_name("reben_label_sets.json")
#: Share of a country's patches that the kept label sets cover at most (the rarest sets are left out).
COVERAGE = 0.95
#: Most label sets kept per country.
MAX_SETS = 300
#: Exponent of the rare-class tempering of :func:`draw_label_set` (0 draws at the release's frequencies).
RARE_CLASS_TEMPERING = 0.5


def _key(labels: Any) -> str:
    """Return the table key of a label set: class indices in table order, joined by ``;`` (e.g. ``"2;9"``)."""
    return ";".join(str(index) for index in sorted(CLASSES_TABLE.index(name) for name in labels))


def label_set_table(metadata: Path) -> dict[str, Any]:
    """Count the label sets of reBEN's clean patches per country of the mini-reBEN (the table's content).

    Args:
        metadata: reBEN's ``metadata.parquet``.

    Returns:
        ``{"source", "md5", "rule", "countries": {country: {"patches": n, "kept": m, "label_sets":
        {key: count}}}}``, sets most frequent first (ties by key), keys as in :func:`_key`.
    """
    metadata = Path(metadata)
    frame = pd.read_parquet(metadata, columns=["labels", "country"])
    countries = {}
    for country in sorted({tile.country for tile in TILES}):
        counts = frame.loc[frame["country"] == country, "labels"].map(_key).value_counts()
        counts = counts.rename_axis("key").reset_index().sort_values(["count", "key"], ascending=[False, True])
        cumulative = counts["count"].cumsum().to_numpy()
        kept = min(MAX_SETS, max(1, int(np.searchsorted(cumulative, COVERAGE * cumulative[-1], side="right"))))
        top = counts.iloc[:kept]
        countries[country] = {
            "patches": int(cumulative[-1]),
            "kept": int(top["count"].sum()),
            "label_sets": dict(zip(top["key"], top["count"].astype(int).tolist(), strict=True)),
        }
    return {
        "source": metadata.name,
        "md5": hashlib.md5(metadata.read_bytes(), usedforsecurity=False).hexdigest(),
        "rule": (
            f"per country, the most frequent label sets of the clean reBEN patches covering at most {COVERAGE:.0%} "
            f"of the country's patches, at most {MAX_SETS}; keys are class indices in table order"
        ),
        "made_by": "scripts/make_label_sets.py",
        "countries": countries,
    }


@functools.cache
def label_sets(country: str) -> tuple[np.ndarray, np.ndarray]:
    """Return a country's label sets as ``(multi_hot (n, 19) bool, probability (n,) float64)``.

    Raises:
        MissingDataError: if the table is missing or has no such country.
    """
    try:
        table = json.loads(LABEL_SETS_FILE.read_text())["countries"][country]["label_sets"]
    except (OSError, ValueError, KeyError) as error:
        raise MissingDataError(
            f"{LABEL_SETS_FILE} holds no label sets of {country!r} ({error}); reinstall bigearth or rebuild the "
            "table with scripts/make_label_sets.py"
        ) from error
    hot = np.zeros((len(table), len(CLASSES_TABLE)), dtype=bool)
    for row, key in enumerate(table):
        hot[row, [int(index) for index in key.split(";")]] = True
    counts = np.array(list(table.values()), dtype=np.float64)
    return hot, counts / counts.sum()


@functools.cache
def _rarest_class_share(country: str) -> np.ndarray:
    """Return, per label set of a country (as :func:`label_sets`), the country's share of its rarest class."""
    hot, probability = label_sets(country)
    return np.where(hot, probability @ hot, np.inf).min(axis=1)


def draw_label_set(
    country: str, tilt: np.ndarray, rng: np.random.Generator, tempering: float = RARE_CLASS_TEMPERING
) -> list[int]:
    """Draw the classes of one location from its country's real label sets, tilted towards the local land cover.

    A set's probability is its share in the country, times the product over its classes of ``tilt`` (the
    location's class probability over the tile's average), so that the tile's sides keep their land cover while
    the tile as a whole keeps about the country's joint distribution, times ``f ** -tempering`` where ``f`` is the
    country's share of patches carrying the set's rarest class. Tempering keeps the real sets (classes per patch,
    co-occurrence) but draws sets with rare classes more often: at the release's frequencies (``tempering=0``) a
    600-patch draw leaves 8 of the 19 classes on fewer than 20 locations, too few to learn or to score them.

    Args:
        country: a country of the table.
        tilt: ``(19,)`` positive weights per class (table order).
        rng: the location's generator.
        tempering: non-negative exponent; 0 keeps the table's joint distribution.

    Returns:
        The class indices (table order) of the drawn set.

    Raises:
        ConfigError: if ``tempering`` is negative.
    """
    if tempering < 0:
        raise ConfigError(f"the rare-class tempering must be >= 0 (0 keeps the table's distribution), got {tempering}")
    hot, probability = label_sets(country)
    weights = probability * np.exp(hot @ np.log(tilt)) * _rarest_class_share(country) ** -tempering
    return [int(c) for c in np.flatnonzero(hot[rng.choice(len(weights), p=weights / weights.sum())])]
