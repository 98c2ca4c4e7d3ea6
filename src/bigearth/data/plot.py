"""Figures of one patch: true colour, false colour, VV, VH and the reference map with a class legend."""

import math
import textwrap
from collections.abc import Mapping

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from torch import Tensor

from bigearth.bands import BandStats
from bigearth.nomenclature import CLASS_COLOURS, IGNORE_INDEX

TRUE_COLOUR = ("B04", "B03", "B02")
FALSE_COLOUR = ("B08", "B04", "B03")


def _stretch(channels: np.ndarray) -> np.ndarray:
    """Scale ``(3, H, W)`` values to 0..1 by the 2nd and 98th percentiles and return ``(H, W, 3)``."""
    low, high = np.percentile(channels, (2, 98))
    return np.clip((channels - low) / max(high - low, 1e-6), 0, 1).transpose(1, 2, 0)


def plot_bands(
    bands: Mapping[str, np.ndarray],
    mask: np.ndarray | None,
    class_names: tuple[str, ...],
    *,
    title: str | None = None,
    show_titles: bool = True,
) -> Figure:
    """Draw the panels that the given bands allow.

    Args:
        bands: ``{band: (120, 120)}`` arrays in native units (reflectance x 10^4 or dB), already at 120 px.
        mask: ``(120, 120)`` class indices (255 = unlabelled) in ``class_names`` order, or None.
        class_names: the class order of ``mask``.
        title: figure title (may span lines).
        show_titles: title each panel.
    """
    panels: list[tuple[str, np.ndarray, dict]] = []
    for name, triple in (("true colour (B04 B03 B02)", TRUE_COLOUR), ("false colour (B08 B04 B03)", FALSE_COLOUR)):
        if all(band in bands for band in triple):
            panels.append((name, _stretch(np.stack([bands[b] for b in triple]).astype(np.float32)), {}))
    for band in ("VV", "VH"):
        if band in bands:
            panels.append((f"{band} (dB)", bands[band], {"cmap": "gray", "vmin": -30, "vmax": 0}))
    present: list[int] = []
    if mask is not None:
        colours = np.array([CLASS_COLOURS[name] for name in class_names] + [(0, 0, 0)], dtype=np.float32) / 255
        shown = np.where(mask == IGNORE_INDEX, len(class_names), mask)
        cmap = ListedColormap(colours)
        panels.append(
            ("reference map", shown, {"cmap": cmap, "vmin": 0, "vmax": len(class_names), "interpolation": "nearest"})
        )
        present = sorted(int(i) for i in np.unique(mask) if i != IGNORE_INDEX)
    columns = 2 if len(panels) >= 4 else 1  # legend columns: long class names need about two panels' width
    lines = [textwrap.fill(line, width=38 * len(panels)) for line in title.split("\n")] if title else []
    title_lines = sum(line.count("\n") + 1 for line in lines)
    # inches: square panels, plus what the title lines and legend rows take, so that no band is left blank
    height = 3.3 + 0.17 * title_lines + 0.2 * math.ceil(len(present) / columns)
    size = (3.2 * len(panels), height)
    figure, axes = plt.subplots(1, len(panels), figsize=size, squeeze=False, layout="constrained")
    for axis, (name, image, options) in zip(axes[0], panels, strict=True):
        axis.imshow(image, **options)
        if show_titles:
            axis.set_title(name, fontsize=9)
        axis.set_axis_off()
    if present:
        handles = [Patch(color=np.array(CLASS_COLOURS[class_names[i]]) / 255, label=class_names[i]) for i in present]
        figure.legend(handles=handles, loc="outside lower center", ncol=columns, fontsize=8, frameon=False)
    if lines:  # wrapped to the figure's width (about 38 characters per panel at this font size)
        figure.suptitle("\n".join(lines), fontsize=9)
    return figure


def _named(vector: Tensor, class_names: tuple[str, ...]) -> str:
    """Return the names of the classes whose entry in a ``(num_classes,)`` multi-hot or probability vector is > 0.5."""
    return ", ".join(name for name, value in zip(class_names, vector.tolist(), strict=True) if value > 0.5) or "none"


def plot_sample(
    sample: Mapping,
    stats: Mapping[str, BandStats],
    class_names: tuple[str, ...],
    *,
    show_titles: bool = True,
    suptitle: str | None = None,
) -> Figure:
    """Draw a dataset sample (normalised ``image``, optional ``mask``), undoing the normalisation for display.

    Args:
        sample: the sample; ``image`` is ``(C, 120, 120)`` normalised with ``stats``; an optional ``label`` and
            ``prediction`` are ``(num_classes,)`` multi-hot or probability vectors (positive above 0.5).
        stats: the band statistics used, in the image's band order (a dataset's ``stats``).
        class_names: class order of the mask, labels and predictions.
        show_titles: title the panels and add the labels (and predictions) to the figure title.
        suptitle: figure title (default: the patch id).
    """
    image = sample["image"].detach().cpu().numpy()
    native = {band: image[i] * stat.std + stat.mean for i, (band, stat) in enumerate(stats.items())}
    mask = sample["mask"].cpu().numpy() if "mask" in sample else None
    lines = [suptitle if suptitle is not None else str(sample.get("patch_id", ""))]
    if show_titles:
        shown = {"label": "labels", "prediction": "predicted"}
        lines += [f"{name}: {_named(sample[key], class_names)}" for key, name in shown.items() if key in sample]
    return plot_bands(native, mask, class_names, title="\n".join(lines), show_titles=show_titles)
