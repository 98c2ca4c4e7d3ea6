"""The descriptors that thematic-climatic sampling balances: climate zone and land-cover theme per patch.

* **climate zone**: the Köppen-Geiger zone of the patch centre (:func:`bigearth.text.climate.climate_zones`,
  the 2016 map of Rubel et al. at about 3 km).
* **land-cover theme**: one class per patch. From the labels (``"labels"``, default, needs only the metadata):
  the patch's **rarest** label by archive frequency, so that a patch of arable land with a strip of beach counts
  as a beach patch and rare land cover is not drowned by the ubiquitous classes it co-occurs with. From the
  reference maps (``"maps"``): the class covering most of the patch's labelled pixels.

A stratum (cell) is a (climate zone, theme) pair.
"""

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from bigearth.data.index import PatchIndex, build_index
from bigearth.data.source import open_source
from bigearth.errors import ConfigError
from bigearth.nomenclature import IGNORE_INDEX, clc_to_index
from bigearth.text.climate import climate_zones

THEME_SOURCES = ("labels", "maps")


def rarest_label_theme(labels: np.ndarray, class_names: tuple[str, ...]) -> np.ndarray:
    """Return each patch's rarest label by frequency among the given patches.

    Args:
        labels: ``(N, C)`` multi-hot.
        class_names: the C class names.

    Returns:
        ``(N,)`` object array of class names (``""`` for a patch without labels).
    """
    frequency = labels.sum(axis=0)
    rarity = np.where(labels > 0, frequency[None, :], np.inf)
    names = np.asarray(class_names, dtype=object)[rarity.argmin(axis=1)]
    return np.where(np.isfinite(rarity.min(axis=1)), names, "")


def dominant_class_theme(
    path: Path,
    patch_ids: list[str],
    class_names: tuple[str, ...],
    *,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Return each patch's class with most labelled pixels in its reference map (``""`` if none is labelled)."""
    source = open_source(path)
    themes = np.empty(len(patch_ids), dtype=object)
    for i, patch_id in enumerate(patch_ids):
        indices = clc_to_index(source.read_reference_map(patch_id), source=f"reference map of {patch_id}").ravel()
        counts = np.bincount(indices[indices != IGNORE_INDEX], minlength=len(class_names))
        themes[i] = class_names[int(counts.argmax())] if counts.any() else ""
        if progress is not None and (i % 1000 == 0 or i == len(patch_ids) - 1):
            progress(i + 1, len(patch_ids))
    return themes


def patch_descriptors(
    path: Path, *, split: str | None = "train", theme: str = "labels", include_snow_cloud: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[pd.DataFrame, PatchIndex]:  # fmt: skip
    """Return the descriptors of every patch of a split, and the split's index (labels, coordinates).

    Returns:
        A frame with ``patch_id``, ``s1_name``, ``split``, ``country``, ``climate_zone``, ``land_cover`` and
        ``cell`` (``"<zone> | <theme>"``), one row per patch in index order.

    Raises:
        ConfigError: for an unknown theme source.
        MissingDataError: if the path is no store or release root, or lacks reference maps for ``"maps"``.
    """
    if theme not in THEME_SOURCES:
        raise ConfigError(f"unknown land-cover theme source {theme!r}; use one of {THEME_SOURCES}")
    index = build_index(Path(path), split=split, class_order="table", include_snow_cloud=include_snow_cloud)
    patch_ids = [str(name) for name in index.patch_id]
    themes = (rarest_label_theme(index.labels, index.class_names) if theme == "labels"
              else dominant_class_theme(Path(path), patch_ids, index.class_names, progress=progress))  # fmt: skip
    zones = climate_zones(index.lat, index.lon)
    frame = pd.DataFrame({
        "patch_id": patch_ids,
        "s1_name": [str(name) for name in index.s1_name],
        "split": index.frame["split"].to_numpy(),
        "country": index.frame["country"].to_numpy(),
        "climate_zone": zones.astype(str),
        "land_cover": themes.astype(str),
    })  # fmt: skip
    frame["cell"] = frame["climate_zone"] + " | " + frame["land_cover"]
    return frame, index
