"""Figures of a classification run: training curves, per-class AP, precision-recall curves, error co-occurrence.

Figures are built with ``matplotlib.figure.Figure`` (no pyplot state, rendered by the Agg canvas), so they work
on headless machines and in worker processes.
"""

import io
import math
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.colors import BoundaryNorm, Normalize
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from torch import Tensor
from torchmetrics.functional.classification import binary_precision_recall_curve

from bigearth.atomic import atomic_write_bytes
from bigearth.evaluation.metrics import THRESHOLD, ClassificationReport
from bigearth.nomenclature import CLASS_COLOURS

#: Longest class name shown in full; longer names are cut with an ellipsis.
_NAME_LENGTH = 34


def short_name(name: str) -> str:
    """Return a class name cut to fit an axis label."""
    return name if len(name) <= _NAME_LENGTH else name[: _NAME_LENGTH - 1].rstrip(" ,") + "…"


def _colour(name: str) -> tuple[float, float, float]:
    return tuple(c / 255 for c in CLASS_COLOURS.get(name, (128, 128, 128)))  # type: ignore[return-value]


def _epoch_table(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Return the last logged value per epoch of the given columns (a resumed run may log an epoch twice)."""
    present = [c for c in columns if c in frame.columns]
    if not present or "epoch" not in frame.columns:
        return pd.DataFrame(columns=["epoch", *present])
    rows = frame.dropna(subset=present, how="all")
    return rows.groupby("epoch")[present].last().reset_index()


def plot_training_curves(metrics_csv: Path) -> Figure:
    """Plot losses, validation metrics per epoch and the learning rate per step from a CSVLogger file.

    Args:
        metrics_csv: the ``metrics.csv`` that Lightning's ``CSVLogger`` wrote.
    """
    frame = pd.read_csv(metrics_csv)
    figure = Figure(figsize=(15, 4.2), layout="constrained")
    loss_axes, metric_axes, lr_axes = figure.subplots(1, 3)
    losses = _epoch_table(frame, ["train/loss_epoch", "val/loss"])
    for column, label in (("train/loss_epoch", "train"), ("val/loss", "validation")):
        if column in losses:
            loss_axes.plot(losses["epoch"] + 1, losses[column], marker="o", label=label)
    loss_axes.set(title="Binary cross-entropy", xlabel="epoch", ylabel="loss")
    loss_axes.legend()
    metrics = _epoch_table(frame, ["val/macro_ap", "val/micro_ap", "val/macro_f1", "val/micro_f1"])
    for column in metrics.columns.drop("epoch"):
        metric_axes.plot(metrics["epoch"] + 1, metrics[column], marker="o", label=column.removeprefix("val/"))
    if "val/macro_ap" in metrics and len(metrics):
        best = metrics["val/macro_ap"].idxmax()
        metric_axes.axvline(metrics["epoch"][best] + 1, color="grey", linestyle=":", label="best macro AP")
    metric_axes.set(title="Validation metrics", xlabel="epoch", ylabel="value", ylim=(0, 1))
    metric_axes.legend(loc="lower right")
    lr_columns = [c for c in frame.columns if c.startswith("lr")]
    if lr_columns:  # parameter groups (with and without weight decay) share one schedule: show the first
        rates = frame.dropna(subset=[lr_columns[0]]).drop_duplicates("step", keep="last")
        lr_axes.plot(rates["step"], rates[lr_columns[0]])
    lr_axes.set(title="Learning rate", xlabel="optimisation step", ylabel="learning rate")
    for axes in (loss_axes, metric_axes):
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    figure.suptitle("Training curves")
    return figure


def plot_per_class_ap(report: ClassificationReport, *, split: str = "test") -> Figure:
    """Plot the average precision of every class as horizontal bars, with support and the macro mean."""
    ap = np.array(report.per_class["ap"], dtype=float)
    order = np.argsort(np.nan_to_num(ap, nan=-1.0))
    figure = Figure(figsize=(10, 0.38 * len(ap) + 1.6), layout="constrained")
    axes = figure.subplots()
    positions = np.arange(len(order))
    names = [report.class_names[i] for i in order]
    axes.barh(positions, np.nan_to_num(ap[order]), color=[_colour(n) for n in names], edgecolor="black", linewidth=0.6)
    for y, i in zip(positions, order, strict=True):  # a column right of AP 1, clear of the bars and the macro line
        text = "absent" if math.isnan(ap[i]) else f"{ap[i]:.3f}  (n={report.support[i]})"
        axes.text(1.02, y, text, va="center", fontsize=8)
    axes.axvline(report.macro["ap"], color="black", linestyle="--")
    axes.axvline(1, color="grey", linewidth=0.6)
    axes.set_yticks(positions, [short_name(n) for n in names], fontsize=8)
    axes.set_xticks(np.linspace(0, 1, 6))
    title = f"Per-class average precision ({split}); dashed line: macro AP {report.macro['ap']:.3f}"
    axes.set(xlim=(0, 1.2), xlabel="average precision", title=title)
    figure.text(0.01, 0.005, report.note, fontsize=7, color="dimgrey")
    return figure


def plot_precision_recall(probabilities: Tensor, targets: Tensor, class_names: tuple[str, ...]) -> Figure:
    """Plot the precision-recall curve of every class present, and the micro (pooled) curve, as small multiples.

    Args:
        probabilities: ``(N, C)`` predicted probabilities.
        targets: ``(N, C)`` 0/1 labels.
        class_names: the C class names.
    """
    probabilities, targets = probabilities.float().cpu(), targets.long().cpu()
    panels = len(class_names) + 1
    columns = 5
    rows = math.ceil(panels / columns)
    figure = Figure(figsize=(3.2 * columns, 2.9 * rows), layout="constrained")
    grid = figure.subplots(rows, columns, sharex=True, sharey=True, squeeze=False).ravel()
    curves = [(name, probabilities[:, i], targets[:, i]) for i, name in enumerate(class_names)]
    curves.append(("micro (all classes pooled)", probabilities.ravel(), targets.ravel()))
    for axes, (name, scores, labels) in zip(grid, curves, strict=False):
        positives = int(labels.sum())
        axes.set_title(short_name(name), fontsize=8)
        if positives == 0:
            axes.text(0.5, 0.5, "absent from split", ha="center", va="center", fontsize=8, color="grey")
            continue
        precision, recall, _ = binary_precision_recall_curve(scores, labels)
        axes.step(recall.numpy(), precision.numpy(), where="post", color="tab:blue")
        prevalence = positives / len(labels)
        axes.axhline(prevalence, color="grey", linestyle=":", linewidth=1)
        axes.text(0.03, 0.05, f"n={positives}, chance={prevalence:.2f}", fontsize=7, color="dimgrey")
    for axes in grid[len(curves) :]:
        axes.axis("off")
    for axes in grid:
        axes.set(xlim=(0, 1), ylim=(0, 1.02))
    figure.supxlabel("recall")
    figure.supylabel("precision")
    figure.suptitle("Precision-recall curves (dotted: a random classifier)")
    return figure


def error_cooccurrence(probabilities: Tensor, targets: Tensor, *, threshold: float = THRESHOLD) -> np.ndarray:
    """Count, for every pair of classes, the samples where the first is missed and the second wrongly predicted.

    Returns:
        ``(C, C)`` int64 counts: entry ``[i, j]`` is the number of samples with class i a false negative and
        class j a false positive; the diagonal holds the false negatives of class i that came with no false
        positive at all (pure misses).
    """
    predicted = probabilities.float().cpu() >= threshold
    truth = targets.cpu().bool()
    missed = (truth & ~predicted).long()
    invented = (~truth & predicted).long()
    counts = (missed.T @ invented).numpy()
    pure = (missed * (invented.sum(dim=1, keepdim=True) == 0)).sum(dim=0).numpy()
    counts[np.diag_indices_from(counts)] = pure
    return counts


def plot_error_cooccurrence(
    probabilities: Tensor, targets: Tensor, class_names: tuple[str, ...], *, threshold: float = THRESHOLD
) -> Figure:
    """Plot :func:`error_cooccurrence` as an annotated heat map (which classes are mistaken for which)."""
    counts = error_cooccurrence(probabilities, targets, threshold=threshold)
    figure = Figure(figsize=(13, 11.5), layout="constrained")
    axes = figure.subplots()
    off_diagonal = np.ma.masked_array(counts, mask=np.eye(len(counts), dtype=bool))  # colour confusions only
    axes.imshow(np.eye(len(counts)), cmap="Greys", vmin=0, vmax=6)  # pale grey diagonal: pure misses
    limit = max(1, int(off_diagonal.max() or 1))
    # counts are whole numbers: one colour step per count up to 10, whole-number ticks beyond
    steps = BoundaryNorm(np.arange(-0.5, limit + 1), 256) if limit <= 10 else Normalize(0, limit)
    image = axes.imshow(off_diagonal, cmap="Reds", norm=steps)
    figure.colorbar(image, ax=axes, shrink=0.7, label="samples with both errors", ticks=MaxNLocator(integer=True))
    labels = [short_name(n) for n in class_names]
    axes.set_xticks(range(len(labels)), labels, rotation=60, ha="right", fontsize=8)
    axes.set_yticks(range(len(labels)), labels, fontsize=8)
    for (i, j), value in np.ndenumerate(counts):
        if value:
            light = i != j and value > 0.6 * limit
            axes.text(j, i, str(value), ha="center", va="center", fontsize=6, color="white" if light else "black")
    axes.set(
        xlabel="class predicted but absent (false positive)",
        ylabel="class present but missed (false negative)",
        title=f"Errors that occur together in one sample (threshold {threshold})\n"
        "off the diagonal: class missed while another is predicted; grey diagonal: misses without a false positive",
    )
    return figure


def save_figure(figure: Figure, path: Path, *, dpi: int = 120) -> Path:
    """Render a figure to PNG and write it atomically; returns the path."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    atomic_write_bytes(path, buffer.getvalue())
    return path


def write_plots(
    folder: Path,
    report: ClassificationReport,
    probabilities: Tensor,
    targets: Tensor,
    *,
    metrics_csv: Path | None = None,
    split: str = "test",
) -> list[Path]:
    """Write every figure of a run into ``folder`` and return their paths."""
    folder = Path(folder)
    written = []
    if metrics_csv is not None and Path(metrics_csv).is_file():
        written.append(save_figure(plot_training_curves(metrics_csv), folder / "training_curves.png"))
    written.append(save_figure(plot_per_class_ap(report, split=split), folder / "per_class_ap.png"))
    written.append(
        save_figure(plot_precision_recall(probabilities, targets, report.class_names), folder / "precision_recall.png")
    )
    written.append(
        save_figure(
            plot_error_cooccurrence(probabilities, targets, report.class_names, threshold=report.threshold),
            folder / "error_cooccurrence.png",
        )
    )
    return written
