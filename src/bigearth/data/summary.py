"""Counts of a reBEN metadata table per split, country and class (what ``bigearth info`` shows)."""

from typing import Any

import pandas as pd

from bigearth.data.layout import SPLITS
from bigearth.nomenclature import CLASSES_TABLE


def summarise(frame: pd.DataFrame) -> dict[str, Any]:
    """Count patches per split, per country and split, and per class and split.

    Args:
        frame: metadata rows (both files, flags included).

    Returns:
        ``{"patches", "flagged": {"seasonal_snow", "cloud_or_shadow"}, "splits": {split: n},
        "countries": {country: {split: n}}, "classes": {class: {split: n}}}``; classes in table order.
    """
    flagged = frame["contains_seasonal_snow"] | frame["contains_cloud_or_shadow"]
    clean = frame[~flagged]
    exploded = clean[["split", "labels"]].explode("labels")
    by_class = exploded.groupby(["labels", "split"]).size()
    by_country = clean.groupby(["country", "split"]).size()
    return {
        "patches": len(frame),
        "clean_patches": len(clean),
        "flagged": {
            "seasonal_snow": int(frame["contains_seasonal_snow"].sum()),
            "cloud_or_shadow": int(frame["contains_cloud_or_shadow"].sum()),
        },
        "splits": {split: int((clean["split"] == split).sum()) for split in SPLITS},
        "countries": {
            country: {split: int(by_country.get((country, split), 0)) for split in SPLITS}
            for country in sorted(clean["country"].unique())
        },
        "classes": {name: {split: int(by_class.get((name, split), 0)) for split in SPLITS} for name in CLASSES_TABLE},
    }
