"""Figures of the slimming reports: relative accuracy vs FLOPs for several encoders, and feature redundancy."""

import math
from collections.abc import Sequence
from typing import Any

from matplotlib.figure import Figure

from bigearth.errors import ConfigError


def _width_label(row: dict[str, Any]) -> str:
    """``0.5`` or ``0.1/e0.1`` (width / embedding width when the embedding is cut)."""
    return f"{row['width']:g}" if row["embed_width"] == 1 else f"{row['width']:g}/e{row['embed_width']:g}"


def plot_comparison(reports: Sequence[dict[str, Any]], *, protocol: str = "knn", metric: str = "macro_ap") -> Figure:
    """Plot relative accuracy (left) and absolute accuracy (right) against FLOPs, one line per encoder.

    Args:
        reports: ``slim evaluate`` reports (:func:`bigearth.tasks.slim.evaluate.evaluate_widths`).
        protocol: ``knn`` or ``linear``.
        metric: ``macro_ap`` or ``micro_ap``.

    Raises:
        ConfigError: if a report lacks the protocol.
    """
    figure = Figure(figsize=(12, 4.8), layout="constrained")
    relative_axes, absolute_axes = figure.subplots(1, 2)
    places: dict[tuple[str, float], tuple[float, float]] = {}  # (width label, log10 FLOPs %) -> highest point
    for report in reports:
        if protocol not in report["rows"][0]:
            raise ConfigError(f"the report of {report['label']} has no {protocol!r} probe; evaluate with it")
        rows = report["rows"]
        flops = [row["flops"] for row in rows]
        relative = [100 * (row[protocol][f"relative_{metric}"] or 0.0) for row in rows]
        line = relative_axes.plot([100 * row["relative"]["flops"] for row in rows], relative, marker="o",
                                  label=report["label"])[0]  # fmt: skip
        absolute_axes.plot(flops, [row[protocol][metric] for row in rows], marker="o", color=line.get_color(),
                           label=report["label"])  # fmt: skip
        for row, x, y in zip(rows, flops, relative, strict=True):  # encoders of one architecture share places
            place = (_width_label(row), round(math.log10(100 * x / flops[0]), 2))
            places[place] = max(places.get(place, (0.0, -math.inf)), (100 * x / flops[0], y), key=lambda p: p[1])
    for (label, _), point in places.items():  # one label per place, above its highest point
        relative_axes.annotate(label, point, textcoords="offset points", xytext=(0, 5), ha="center", fontsize=7,
                               color="0.2")  # fmt: skip
    name = f"{protocol} {metric.replace('_', ' ')}"
    relative_axes.set(xscale="log", xlabel="FLOPs (% of width 1)", ylabel=f"relative {name} (% of width 1)",
                      title="relative accuracy vs FLOPs (labels: width)")  # fmt: skip
    absolute_axes.set(xscale="log", xlabel="FLOPs per image", ylabel=name, title="absolute accuracy vs FLOPs")
    for axes in (relative_axes, absolute_axes):
        axes.grid(True, which="both", alpha=0.3)
        axes.legend(fontsize=8)
    return figure


def plot_redundancy(report: dict[str, Any]) -> Figure:
    """Plot cumulative explained variance per width, effective dimensionality and feature correlation vs width."""
    figure = Figure(figsize=(13, 4), layout="constrained")
    variance_axes, dimension_axes, correlation_axes = figure.subplots(1, 3)
    rows = report["rows"]
    for row in rows:
        ratio = row["explained_variance_ratio"]
        cumulative = [sum(ratio[: i + 1]) for i in range(len(ratio))]
        variance_axes.plot(range(1, len(ratio) + 1), cumulative, label=f"width {_width_label(row)}")
    variance_axes.set(xscale="log", xlabel="principal components", ylabel="explained variance (cumulative)",
                      title="PCA explained variance", ylim=(0, 1.02))  # fmt: skip
    variance_axes.legend(fontsize=8)
    widths = [row["width"] for row in rows]
    for key, label in (("participation_ratio", "participation ratio"), ("effective_rank", "effective rank"),
                       ("components_for_90", "components for 90 %"), ("feature_dim", "feature width")):  # fmt: skip
        dimension_axes.plot(widths, [row[key] for row in rows], marker="o", label=label)
    dimension_axes.set(xlabel="width", ylabel="dimensions", yscale="log", title="effective dimensionality")
    dimension_axes.legend(fontsize=8)
    correlation_axes.plot(widths, [row["mean_abs_correlation"] for row in rows], marker="o")
    correlation_axes.set(xlabel="width", ylabel="mean |correlation|", title="feature correlation", ylim=(0, None))
    for axes in (variance_axes, dimension_axes, correlation_axes):
        axes.grid(True, alpha=0.3)
    figure.suptitle(f"feature redundancy of {report['label']} ({report['split']} split)")
    return figure
