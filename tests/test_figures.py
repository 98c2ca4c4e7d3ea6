"""Figure layouts, checked on the drawn figures: what issue 19 found overlapping, misleading or blank stays fixed.

Positions are read from the rendered artists (display units after a draw), not from bigearth's own numbers.
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg

from bigearth.evaluation.metrics import classification_report
from bigearth.evaluation.plots import plot_error_cooccurrence, plot_per_class_ap
from bigearth.nomenclature import CLASSES_TABLE, IGNORE_INDEX
from bigearth.tasks.slim.plots import plot_comparison
from bigearth.text.stats import statistics_figure, text_statistics

REPORTS = Path(__file__).resolve().parents[1] / "docs" / "slim" / "reports"
NAMES = CLASSES_TABLE[:3]


def drawn(figure):
    """Draw a figure on an Agg canvas so that every artist has its final place; returns the renderer."""
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    return canvas.get_renderer()


def test_per_class_ap__values_sit_right_of_every_bar_and_the_macro_line() -> None:
    targets = torch.tensor([[1, 0, 1], [0, 1, 1], [1, 1, 0], [0, 0, 1]])
    probabilities = torch.tensor([[0.9, 0.2, 0.4], [0.6, 0.7, 0.8], [0.3, 0.6, 0.2], [0.1, 0.1, 0.7]])
    report = classification_report(probabilities, targets, NAMES)
    axes = plot_per_class_ap(report).axes[0]
    assert axes.get_legend() is None  # the macro mean is in the title, no legend over the bars
    assert f"macro AP {report.macro['ap']:.3f}" in axes.get_title()
    assert [text.get_position()[0] for text in axes.texts] == [1.02] * 3  # all right of AP 1 >= any bar, macro


def test_error_cooccurrence__the_colour_bar_counts_whole_samples() -> None:
    targets = torch.tensor([[1, 0, 0], [0, 1, 0], [0, 0, 1]])
    probabilities = torch.tensor([[0.2, 0.9, 0.1], [0.1, 0.9, 0.1], [0.1, 0.1, 0.9]])  # one miss, 1 confusion
    figure = plot_error_cooccurrence(probabilities, targets, NAMES)
    drawn(figure)
    colour_bar = figure.axes[1]
    ticks = [tick for tick in colour_bar.get_yticks() if colour_bar.get_ylim()[0] <= tick <= colour_bar.get_ylim()[1]]
    assert ticks == [0, 1]


def test_slim_comparison__one_width_label_per_place() -> None:
    plain = json.loads((REPORTS / "plain.json").read_text())
    twin = {**plain, "label": "same FLOPs, another encoder"}
    axes = plot_comparison([plain, twin]).axes[0]
    labels = [text.get_text() for text in axes.texts]
    assert sorted(labels) == sorted(["1", "0.75", "0.5", "0.25", "0.1"])  # 5 widths at 5 shared places, once each


def test_text_statistics__the_legend_hides_no_bar() -> None:
    rows = [("binary", "presence", "Is there water?", "yes"), ("mcq", "area", "Which is largest? a) b)", "a"),
            ("binary", "area", "Is it large?", "no"), ("captioning", "caption", "A field.", "A field.")]  # fmt: skip
    frame = pd.DataFrame(rows, columns=["type", "category", "input", "output"])
    frame.insert(0, "patch_id", [f"p{i}" for i in range(len(frame))])
    frame["split"] = "train"
    figure = statistics_figure(text_statistics(frame))
    renderer = drawn(figure)
    counts = figure.axes[0]
    legend = counts.get_legend().get_window_extent(renderer)
    assert legend.x0 >= counts.get_window_extent(renderer).x1  # beside the axes, not over them


def test_show__no_blank_band_between_the_panels_and_the_legend() -> None:
    from bigearth.data.plot import plot_bands

    rng = np.random.default_rng(0)
    bands = {band: rng.uniform(0, 3000, (120, 120)) for band in ("B02", "B03", "B04", "B08")}
    bands |= {"VV": rng.uniform(-25, -5, (120, 120)), "VH": rng.uniform(-30, -10, (120, 120))}
    mask = np.full((120, 120), IGNORE_INDEX, dtype=np.uint8)
    for index in range(8):
        mask[index * 15 : (index + 1) * 15] = index
    figure = plot_bands(bands, mask, CLASSES_TABLE, title="a patch\nlabels: eight classes")
    renderer = drawn(figure)
    lowest_panel = min(axis.get_window_extent(renderer).y0 for axis in figure.axes)
    legend_top = figure.legends[0].get_window_extent(renderer).y1
    gap_inches = (lowest_panel - legend_top) / figure.dpi
    assert 0 <= gap_inches < 0.25  # the legend starts right under the panels (was about 0.6 inch of blank)
