"""Score reports side by side: the BigEarthNet.txt paper's table of zero-shot and fine-tuned models.

``bigearth vlm compare ZERO_SHOT FINE_TUNED ...`` reads the ``scores.csv`` of each report folder that
``bigearth vlm evaluate`` (or ``bigearth text evaluate --out``) wrote and returns one row per (type, category,
metric) with one column per report, for the headline metrics :data:`HEADLINE`; the figure shows the ``all`` rows.
"""

import io
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from bigearth.atomic import atomic_write_bytes
from bigearth.errors import ConfigError, MetadataError, MissingDataError
from bigearth.text.evaluate import ALL
from bigearth.text.schema import BINARY, CAPTION, DETECTION, MULTIPLE_CHOICE

#: The metrics compared, by text type (the columns of ``scores.csv``).
HEADLINE: dict[str, tuple[str, ...]] = {
    BINARY: ("accuracy",),
    MULTIPLE_CHOICE: ("accuracy",),
    DETECTION: ("mean_iou", "accuracy_iou50"),
    CAPTION: ("bleu_4", "meteor", "rouge_l", "cider"),
}
SCORES_FILE = "scores.csv"


def _scores(folder: Path) -> pd.DataFrame:
    file = Path(folder) / SCORES_FILE
    if not file.is_file():
        raise MissingDataError(f"{file} does not exist; give folders that `bigearth vlm evaluate --out` wrote")
    frame = pd.read_csv(file)
    if not {"type", "category"} <= set(frame.columns):
        raise MetadataError(f"{file} is no score table (no type and category columns)")
    return frame


def compare_reports(folders: list[Path], names: list[str] | None = None) -> pd.DataFrame:
    """Return the headline metrics of several reports side by side.

    Args:
        folders: report folders (each with ``scores.csv``).
        names: a column name per folder (default: the folder names).

    Returns:
        Columns ``type``, ``category``, ``metric`` and one per report; NaN where a report lacks the row.

    Raises:
        ConfigError: if the names do not match the folders in number or repeat.
        MissingDataError, MetadataError: a folder without a score table.
    """
    names = names or [Path(folder).name for folder in folders]
    if len(names) != len(folders) or len(set(names)) != len(names):
        raise ConfigError(f"give one distinct name per report folder: {len(folders)} folders, names {names}")
    tables = []
    for folder, name in zip(folders, names, strict=True):
        frame = _scores(folder)
        long = [frame.loc[frame["type"] == kind, ["type", "category", metric]]
                .rename(columns={metric: name}).assign(metric=metric)
                for kind, metrics in HEADLINE.items() for metric in metrics if metric in frame.columns]  # fmt: skip
        tables.append(pd.concat(long).dropna(subset=[name]).set_index(["type", "category", "metric"]))
    joined = pd.concat(tables, axis=1, join="outer")
    order = {kind: i for i, kind in enumerate(HEADLINE)}
    joined = joined.reset_index()
    joined["_order"] = joined["type"].map(order)
    return joined.sort_values(["_order"], kind="stable").drop(columns="_order").reset_index(drop=True)


def comparison_figure(table: pd.DataFrame) -> Figure:
    """Bar plot of the ``all`` rows: one group per (type, metric), one bar per report."""
    rows = table[table["category"] == ALL]
    reports = [c for c in table.columns if c not in ("type", "category", "metric")]
    labels = [f"{kind}\n{metric}" for kind, metric in zip(rows["type"], rows["metric"], strict=True)]
    figure = Figure(figsize=(max(6.0, 1.1 * len(labels) + 2), 4), layout="constrained")
    axes = figure.add_subplot()
    width = 0.8 / max(1, len(reports))
    for i, report in enumerate(reports):
        offset = (i - (len(reports) - 1) / 2) * width
        axes.bar(np.arange(len(labels)) + offset, rows[report].to_numpy(dtype=float), width, label=report)
    axes.set_xticks(np.arange(len(labels)), labels, fontsize=8)
    axes.set_ylabel("score")
    axes.legend(fontsize="small")
    axes.set_title("BigEarthNet.txt: models side by side")
    return figure


def write_comparison(table: pd.DataFrame, out: Path) -> None:
    """Write the table as CSV (``out``) and the figure beside it (``out`` with ``.png``), atomically."""
    out = Path(out)
    atomic_write_bytes(out, table.to_csv(index=False).encode())
    buffer = io.BytesIO()
    comparison_figure(table).savefig(buffer, format="png", dpi=120)
    atomic_write_bytes(out.with_suffix(".png"), buffer.getvalue())
