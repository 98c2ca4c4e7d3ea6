"""Figures of a VQA run: training curves and the accuracy per question category."""

import math
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from bigearth.evaluation.plots import save_figure
from bigearth.tasks.vqa.metrics import VQAReport, slug


def _per_epoch(frame: pd.DataFrame, column: str) -> pd.Series:
    """Return the last logged value per epoch of a column (a resumed run may log an epoch twice)."""
    if column not in frame.columns or "epoch" not in frame.columns:
        return pd.Series(dtype=float)
    return frame.dropna(subset=[column]).groupby("epoch")[column].last()


def plot_vqa_curves(metrics_csv: Path, types: tuple[str, ...]) -> Figure:
    """Plot the training and validation loss and the validation accuracies per epoch from a CSVLogger file."""
    frame = pd.read_csv(metrics_csv)
    figure = Figure(figsize=(11, 4.2), layout="constrained")
    loss_axes, accuracy_axes = figure.subplots(1, 2)
    for column, label in (("train/loss_epoch", "train"), ("val/loss", "validation")):
        values = _per_epoch(frame, column)
        loss_axes.plot(values.index + 1, values.to_numpy(), marker="o", label=label)
    loss_axes.set(title="Binary cross-entropy", xlabel="epoch", ylabel="loss")
    loss_axes.legend()
    columns = ["val/average_accuracy", "val/overall_accuracy", *(f"val/accuracy_{slug(t)}" for t in types)]
    for column in columns:
        values = _per_epoch(frame, column)
        if len(values):
            accuracy_axes.plot(values.index + 1, values.to_numpy(), marker="o", label=column.removeprefix("val/"))
    accuracy_axes.set(title="Validation accuracy", xlabel="epoch", ylabel="accuracy", ylim=(0, 1))
    accuracy_axes.legend(loc="lower right")
    for axes in (loss_axes, accuracy_axes):
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    figure.suptitle("VQA training curves")
    return figure


def plot_category_accuracy(report: VQAReport, *, split: str = "test") -> Figure:
    """Plot the accuracy of every question category as horizontal bars, with the question counts."""
    accuracy = np.array(report.category_accuracy, dtype=float)
    figure = Figure(figsize=(9, 0.4 * len(accuracy) + 1.6), layout="constrained")
    axes = figure.subplots()
    positions = np.arange(len(accuracy))
    axes.barh(positions, np.nan_to_num(accuracy), color="tab:blue")
    for y, value, count in zip(positions, accuracy, report.category_support, strict=True):
        text = "absent" if math.isnan(value) else f"{value:.3f}  (n={count})"
        axes.text(np.nan_to_num(value) + 0.01, y, text, va="center", fontsize=8)
    axes.axvline(report.overall_accuracy, color="black", linestyle="--", label=f"overall {report.overall_accuracy:.3f}")
    axes.set_yticks(positions, list(report.categories), fontsize=8)
    axes.set(xlim=(0, 1.2), xlabel="accuracy", title=f"Accuracy per question category ({split})")
    axes.legend(loc="lower right")
    return figure


def write_vqa_plots(folder: Path, report: VQAReport, *, metrics_csv: Path | None = None) -> list[Path]:
    """Write the figures of a run into ``folder`` and return their paths."""
    written = []
    if metrics_csv is not None and Path(metrics_csv).is_file():
        written.append(save_figure(plot_vqa_curves(metrics_csv, report.types), Path(folder) / "training_curves.png"))
    written.append(save_figure(plot_category_accuracy(report), Path(folder) / "category_accuracy.png"))
    return written
