"""The results of a study: the long table (parquet), its summary over seeds (Markdown) and one figure per axis.

Columns of ``study.parquet``, one row per run and probe: ``run``, the axes (``method``, ``regulariser``,
``augment``, ``cardinality``, ``image_size``, ``temporal``: the study file's values as text, ``recipe`` where the
axis kept the recipe's), ``seed``, ``train_patches`` (patches pretrained on), ``view_size`` (px), ``protocol``
(``knn`` or ``linear``), ``macro_ap``, ``micro_ap`` (test split), ``wall_s`` (pretraining and probes) and
``load`` (the 1-minute load average when the run ended). The random encoder's rows have ``run`` = ``random init``.

The Markdown gives every configuration's mean and sample standard deviation over seeds, then, where the study has
temporal views on and off, the difference per probe and whether it exceeds the spread (the sum of the two
standard deviations: the mean +- 1 sd intervals do not overlap).
"""

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from bigearth.atomic import atomic_write_bytes
from bigearth.evaluation.plots import save_figure
from bigearth.tasks.ssl.evaluate import macro_micro
from bigearth.tasks.study.config import AXES, crop_size

#: The result key of each probe in an SSL run's ``metrics.json``.
PROBE_KEYS = {"knn": "knn", "linear": "linear_probe"}
#: What the axes are called in tables and figures.
AXIS_TITLES = {"method": "method", "regulariser": "regulariser", "augment": "augmentations",
               "cardinality": "training patches", "image_size": "view size (px)", "temporal": "views"}  # fmt: skip
RANDOM = "random init"
#: How the Markdown says whether a difference exceeds the spread over seeds.
SPREAD = {True: "yes", False: "no", None: "n/a (one seed)"}


def _label(axis: str, value: Any) -> str:
    if value is None:
        return "recipe"
    if axis == "temporal":
        return "temporal" if value else "augmentation-only"
    return str(value)


def study_table(records: Sequence[dict[str, Any]], baselines: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """Return the long table of a study's run records (:func:`~bigearth.tasks.study.run.run_one`) and baselines."""
    rows = []
    for record in records:
        metrics = record["metrics"]
        common = {"run": record["run"], **{axis: _label(axis, record["values"][axis]) for axis in AXES},
                  "seed": record["seed"], "train_patches": metrics.get("train_patches"),
                  "view_size": crop_size(metrics["augment"]), "wall_s": record["wall_s"],
                  "load": record["load"][0]}  # fmt: skip
        for protocol, key in PROBE_KEYS.items():
            if metrics.get(key):
                macro, micro = macro_micro(metrics[key])
                rows.append({**common, "protocol": protocol, "macro_ap": macro, "micro_ap": micro})
    for baseline in baselines:
        for protocol, result in baseline["probes"].items():
            macro, micro = macro_micro(result)
            rows.append({"run": RANDOM, **dict.fromkeys(AXES, "-"), "seed": baseline["seed"], "train_patches": None,
                         "view_size": 120, "wall_s": None, "load": None, "protocol": protocol, "macro_ap": macro,
                         "micro_ap": micro})  # fmt: skip
    return pd.DataFrame(rows)


def summary(table: pd.DataFrame) -> pd.DataFrame:
    """Mean, sample standard deviation and count of macro AP over seeds, per configuration and probe."""
    grouped = table.groupby([*AXES, "protocol"], sort=False, dropna=False)  # the random encoder's axes are all "-"
    frame = grouped.agg(mean=("macro_ap", "mean"), sd=("macro_ap", "std"), n=("macro_ap", "size"),
                        train_patches=("train_patches", "mean"), view_size=("view_size", "mean"),
                        wall_s=("wall_s", "mean")).reset_index()  # fmt: skip
    frame["sd"] = frame["sd"].fillna(0.0)
    return frame


def temporal_comparison(table: pd.DataFrame) -> pd.DataFrame:
    """Temporal vs augmentation-only views of otherwise equal configurations, per probe.

    Returns:
        One row per configuration and probe: the two means and standard deviations, ``difference`` (temporal minus
        augmentation-only) and ``exceeds_spread`` (``|difference| > sd_temporal + sd_augmentation``; None with
        fewer than two seeds on either side: no spread to compare with).
    """
    stats = summary(table[table["run"] != RANDOM])
    others = [axis for axis in AXES if axis != "temporal"]
    on = stats[stats["temporal"] == "temporal"]
    off = stats[stats["temporal"] == "augmentation-only"]
    paired = on.merge(off, on=[*others, "protocol"], suffixes=("_temporal", "_augment"))
    paired["difference"] = paired["mean_temporal"] - paired["mean_augment"]
    exceeds = paired["difference"].abs() > paired["sd_temporal"] + paired["sd_augment"]
    seeded = (paired["n_temporal"] > 1) & (paired["n_augment"] > 1)
    paired["exceeds_spread"] = exceeds.astype(object).where(seeded, None)
    return paired[[*others, "protocol", "mean_augment", "sd_augment", "mean_temporal", "sd_temporal", "n_temporal",
                   "difference", "exceeds_spread"]]  # fmt: skip


def _cell(mean: float, sd: float) -> str:
    return "-" if np.isnan(mean) else f"{mean:.3f} ± {sd:.3f}"


def markdown(table: pd.DataFrame, *, data: str = "") -> str:
    """Return the summary over seeds as Markdown: one line per configuration, macro AP per probe."""
    stats = summary(table)
    protocols = list(dict.fromkeys(stats["protocol"]))
    header = [*(AXIS_TITLES[axis] for axis in AXES), "patches", "view px", "seeds",
              *(f"{'kNN' if p == 'knn' else 'linear'} macro AP" for p in protocols), "wall s"]  # fmt: skip
    lines = [f"Test split of {data}; macro AP, mean ± sd over seeds." if data else "", "",
             "| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]  # fmt: skip
    for _, group in stats.groupby(list(AXES), sort=False):
        first = group.iloc[0]
        scores = {row["protocol"]: _cell(row["mean"], row["sd"]) for _, row in group.iterrows()}
        patches = "all" if first[AXES[0]] == "-" else f"{first['train_patches']:.0f}"
        wall = "-" if np.isnan(first["wall_s"]) else f"{first['wall_s']:.0f}"
        cells = [
            *(str(first[axis]) for axis in AXES),
            patches,
            f"{first['view_size']:.0f}",
            str(first["n"]),
            *(scores.get(p, "-") for p in protocols),
            wall,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    comparison = temporal_comparison(table)
    if len(comparison):
        lines += ["", "Temporal vs augmentation-only views (difference = temporal - augmentation-only; exceeds the "
                  "spread when larger than the sum of the two sds):", "",
                  "| probe | augmentation-only | temporal | difference | exceeds spread |",
                  "| --- | --- | --- | --- | --- |"]  # fmt: skip
        for _, row in comparison.iterrows():
            lines.append(f"| {row['protocol']} | {_cell(row['mean_augment'], row['sd_augment'])} | "
                         f"{_cell(row['mean_temporal'], row['sd_temporal'])} | {row['difference']:+.3f} | "
                         f"{SPREAD[row['exceeds_spread']]} |")  # fmt: skip
    return "\n".join(lines).lstrip() + "\n"


def axis_figure(table: pd.DataFrame, axis: str) -> Figure:
    """Plot macro AP (mean ± sd over seeds) along one axis, the other axes at the baseline (the first run's).

    Numeric axes (cardinality, image size) are lines over the training patches or view size; the others are bars.
    The random encoder's mean is a dashed line per probe.
    """
    runs = table[table["run"] != RANDOM]
    baseline = runs.iloc[0]
    sliced = runs[np.logical_and.reduce([runs[other] == baseline[other] for other in AXES if other != axis])]
    stats = summary(sliced)
    figure = Figure(figsize=(5.5, 3.8), layout="constrained")
    ax = figure.subplots()
    protocols = list(dict.fromkeys(stats["protocol"]))
    numeric = {"cardinality": "train_patches", "image_size": "view_size"}.get(axis)
    for offset, protocol in enumerate(protocols):
        part = stats[stats["protocol"] == protocol]
        name = "kNN" if protocol == "knn" else "linear probe"
        if numeric:
            part = part.sort_values(numeric)
            ax.errorbar(part[numeric], part["mean"], yerr=part["sd"], marker="o", capsize=3, label=name)
        else:
            positions = np.arange(len(part)) + (offset - (len(protocols) - 1) / 2) * 0.38
            ax.bar(positions, part["mean"], width=0.36, yerr=part["sd"], capsize=3, label=name)
            ax.set_xticks(np.arange(len(part)), part[axis], rotation=30 if len(part) > 3 else 0, ha="right"
                          if len(part) > 3 else "center")  # fmt: skip
        random = table[(table["run"] == RANDOM) & (table["protocol"] == protocol)]["macro_ap"]
        if len(random):
            ax.axhline(random.mean(), linestyle="--", linewidth=1, color=f"C{offset}", label=f"{name}, random init")
    ax.set(xlabel=AXIS_TITLES[axis], ylabel="test macro AP")
    if axis == "temporal":
        ax.set_title("classification: temporal vs augmentation-only views")
    ax.legend(fontsize="small")
    return figure


def write_report(folder: Path, records: Sequence[dict[str, Any]], baselines: Sequence[dict[str, Any]], *,
                 data: str = "") -> pd.DataFrame:  # fmt: skip
    """Write ``study.parquet``, ``study.md`` and ``figures/<axis>.png`` (axes with several values); return the table."""
    table = study_table(records, baselines)
    buffer = io.BytesIO()
    table.to_parquet(buffer, index=False)
    atomic_write_bytes(folder / "study.parquet", buffer.getvalue())
    atomic_write_bytes(folder / "study.md", markdown(table, data=data).encode())
    runs = table[table["run"] != RANDOM]
    for axis in AXES:
        if runs[axis].nunique() > 1:
            save_figure(axis_figure(table, axis), folder / "figures" / f"{axis}.png")
    return table
