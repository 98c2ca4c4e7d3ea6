"""Counts of a reBEN metadata table per split, country and class (what ``bigearth info`` shows).

Counted with arrow's group-by on the table as read (no pandas), which keeps ``bigearth info`` quick to start and
quick on the 549,488 rows of the release.
"""

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from bigearth.data.layout import SPLITS
from bigearth.data.metadata import dictionary_codes
from bigearth.nomenclature import CLASSES_TABLE


def counts_by(names: pa.Array | pa.ChunkedArray, splits: pa.Array | pa.ChunkedArray) -> dict[str, dict[str, int]]:
    """Count rows per name and split: ``{name: {split: n}}`` with every split of ``SPLITS`` (0 where none).

    Args:
        names: ``(N,)`` strings (a missing one is counted under ``"(missing)"``).
        splits: ``(N,)`` split names of the same rows (checked metadata: each one of ``SPLITS``).
    """
    # a bincount of (name code, split position) pairs; arrow's group_by would import pyarrow.acero and with it pandas
    name_codes, found_names = dictionary_codes(names)
    split_codes, found_splits = dictionary_codes(splits)
    positions = np.array([SPLITS.index(split) for split in found_splits.to_pylist()], dtype=np.int64)[split_codes]
    pairs = np.bincount(name_codes * len(SPLITS) + positions, minlength=len(found_names) * len(SPLITS))
    return {
        "(missing)" if name is None else name: dict(zip(SPLITS, row, strict=True))
        for name, row in zip(found_names.to_pylist(), pairs.reshape(-1, len(SPLITS)).tolist(), strict=True)
    }


def summarise(table: pa.Table) -> dict[str, Any]:
    """Count patches per split, per country and split, and per class and split.

    Args:
        table: checked metadata rows (both files, flags included), as
            :func:`bigearth.data.metadata.read_metadata_table` returns them.

    Returns:
        ``{"patches", "clean_patches", "flagged": {"seasonal_snow", "cloud_or_shadow"}, "splits": {split: n},
        "countries": {country: {split: n}}, "classes": {class: {split: n}}}``; countries sorted, classes in table
        order, every split present (0 where none).
    """
    snow, cloud = table["contains_seasonal_snow"], table["contains_cloud_or_shadow"]
    clean = table.filter(pc.invert(pc.or_(snow, cloud)))
    by_country = counts_by(clean["country"], clean["split"])
    by_class = counts_by(pc.list_flatten(clean["labels"]), clean["split"].take(pc.list_parent_indices(clean["labels"])))
    none = dict.fromkeys(SPLITS, 0)
    return {
        "patches": len(table),
        "clean_patches": len(clean),
        "flagged": {"seasonal_snow": pc.sum(snow).as_py() or 0, "cloud_or_shadow": pc.sum(cloud).as_py() or 0},
        "splits": {split: sum(counts[split] for counts in by_country.values()) for split in SPLITS},
        "countries": {country: by_country[country] for country in sorted(by_country)},
        "classes": {name: by_class.get(name, none) for name in CLASSES_TABLE},
    }
