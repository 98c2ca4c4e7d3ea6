"""How a subset's descriptor distribution compares with its archive's.

For each descriptor (climate zone, land-cover theme, their cell, and the 19 classes as label frequencies) the
report gives the archive's and the subset's shares, the total variation distance between them
(``0.5 * sum |p - q|``: 0 = same distribution) and the coverage (values present in the archive that the subset
also holds). A uniform random subset of the same size is scored beside it, so the effect of balancing shows.
"""

from typing import Any

import numpy as np
import pandas as pd

from bigearth.nomenclature import CLASSES_TABLE

DESCRIPTORS = ("climate_zone", "land_cover", "cell")


def shares(values: pd.Series) -> pd.Series:
    """Return the fraction of rows per value."""
    return values.value_counts(normalize=True)


def total_variation(p: pd.Series, q: pd.Series) -> float:
    """Return ``0.5 * sum |p - q|`` over the union of the values (missing = 0)."""
    union = p.index.union(q.index)
    return float(0.5 * (p.reindex(union, fill_value=0) - q.reindex(union, fill_value=0)).abs().sum())


def label_frequency(labels: np.ndarray) -> pd.Series:
    """Return the fraction of patches carrying each class (table order)."""
    return pd.Series(labels.mean(axis=0), index=list(CLASSES_TABLE))


def compare(archive: pd.DataFrame, subset: pd.DataFrame, archive_labels: np.ndarray,
            subset_labels: np.ndarray) -> dict[str, Any]:  # fmt: skip
    """Compare one subset with the archive: distances, coverage and per-value shares.

    Args:
        archive: descriptor rows of the archive.
        subset: descriptor rows of the subset.
        archive_labels: ``(N, 19)`` multi-hot labels of the archive (table order).
        subset_labels: ``(n, 19)`` multi-hot labels of the subset.
    """
    result: dict[str, Any] = {"size": len(subset)}
    for name in DESCRIPTORS:
        p, q = shares(archive[name]), shares(subset[name])
        result[name] = {
            "total_variation": round(total_variation(p, q), 4),
            "coverage": round(float(q.index.isin(p.index).sum() / max(len(p), 1)), 4),
            "values_in_archive": len(p),
            "values_in_subset": len(q),
        }
    p, q = label_frequency(archive_labels), label_frequency(subset_labels)
    result["labels"] = {
        "mean_abs_difference": round(float((p - q).abs().mean()), 4),
        "classes_in_archive": int((p > 0).sum()),
        "classes_in_subset": int((q > 0).sum()),
    }
    return result


def distribution_report(
    archive: pd.DataFrame, subset: pd.DataFrame, random: pd.DataFrame, labels: np.ndarray
) -> dict[str, Any]:
    """Return the report: the subset and a random subset of the same size against the archive, and the shares.

    Args:
        archive: descriptor rows of the archive, in the order of ``labels``.
        subset: the selected rows (a subset of ``archive``'s index).
        random: a uniform random subset of the same size.
        labels: ``(N, 19)`` archive labels (table order).
    """
    row = {name: i for i, name in enumerate(archive.index)}

    def labels_of(frame: pd.DataFrame) -> np.ndarray:
        return labels[[row[name] for name in frame.index]]

    return {
        "archive_size": len(archive),
        "thematic_climatic": compare(archive, subset, labels, labels_of(subset)),
        "uniform_random": compare(archive, random, labels, labels_of(random)),
        "climate_zone_shares": pd.DataFrame({"archive": shares(archive["climate_zone"]),
                                             "subset": shares(subset["climate_zone"])}).fillna(0).round(4)
                                 .to_dict(orient="index"),
        "land_cover_shares": pd.DataFrame({"archive": shares(archive["land_cover"]),
                                           "subset": shares(subset["land_cover"])}).fillna(0).round(4)
                               .to_dict(orient="index"),
        "label_frequency": pd.DataFrame({"archive": label_frequency(labels),
                                         "subset": label_frequency(labels_of(subset))}).round(4)
                             .to_dict(orient="index"),
    }  # fmt: skip
