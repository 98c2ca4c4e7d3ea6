"""Statistics of a text file: counts per type and category, answer balance, text lengths; printed and plotted.

Works on BigEarthNet.txt files and on RSVQAxBEN-style files (``question``/``answer``/``form`` are read as
``input``/``output``/``category``). Lengths are in words (split on spaces).
"""

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from bigearth.atomic import atomic_write_bytes
from bigearth.text.schema import LETTERS, MULTIPLE_CHOICE, YES


@dataclass(frozen=True)
class TextStatistics:
    """Statistics of one text file.

    Attributes:
        counts: texts per type and category (columns ``type``, ``category``, ``texts``).
        yes_share: share of ``yes`` per type and category among yes/no answers (``type``, ``category``,
            ``questions``, ``yes_share``).
        letters: right-letter counts of multiple-choice questions per category (columns a-d).
        lengths: words of inputs and outputs per type (``type``, ``part``, ``mean``, ``median``, ``max``).
        patches: number of patches.
    """

    counts: pd.DataFrame
    yes_share: pd.DataFrame
    letters: pd.DataFrame
    lengths: pd.DataFrame
    patches: int


def normalise_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Return a text table with ``input``/``output``/``type``/``category`` (RSVQA files renamed)."""
    if "question" in frame.columns:
        frame = frame.rename(columns={"question": "input", "answer": "output", "form": "category"})
    return frame


def text_statistics(frame: pd.DataFrame) -> TextStatistics:
    """Return the statistics of a text table (BigEarthNet.txt or RSVQAxBEN-style)."""
    frame = normalise_columns(frame)
    counts = frame.groupby(["type", "category"]).size().rename("texts").reset_index()
    yes_no = frame[frame["output"].isin(["yes", "no"])]
    yes_share = (
        yes_no.groupby(["type", "category"])["output"]
        .agg(questions="size", yes_share=lambda s: float((s == YES).mean()))
        .reset_index()
    )
    choices = frame[frame["type"] == MULTIPLE_CHOICE]
    letters = choices.groupby("category")["output"].value_counts().unstack(fill_value=0)
    letters = letters.reindex(columns=list(LETTERS), fill_value=0)
    words = []
    for part in ("input", "output"):
        length = frame[part].astype(str).str.split().str.len()
        stats = length.groupby(frame["type"]).agg(["mean", "median", "max"]).reset_index()
        words.append(stats.assign(part=part))
    lengths = pd.concat(words, ignore_index=True)[["type", "part", "mean", "median", "max"]]
    return TextStatistics(counts, yes_share, letters, lengths, int(frame["patch_id"].nunique()))


def statistics_figure(stats: TextStatistics, frame: pd.DataFrame) -> Figure:
    """Three panels: texts per category and type, yes share per category, histogram of output lengths."""
    frame = normalise_columns(frame)
    figure = Figure(figsize=(15, 4.5), layout="constrained")
    counts, balance, lengths = figure.subplots(1, 3)
    table = stats.counts.pivot(index="category", columns="type", values="texts").fillna(0)
    bottom = np.zeros(len(table))
    for kind in table.columns:
        counts.bar(table.index, table[kind], bottom=bottom, label=str(kind))
        bottom += table[kind].to_numpy()
    counts.tick_params(axis="x", labelrotation=60)
    counts.legend(fontsize="small")
    counts.set_title("texts per category and type")
    counts.set_ylabel("texts")
    if len(stats.yes_share):
        labels = [f"{t}: {c}" for t, c in zip(stats.yes_share["type"], stats.yes_share["category"], strict=True)]
        balance.barh(labels, stats.yes_share["yes_share"])
        balance.axvline(0.5, color="black", linewidth=0.8)
        balance.set_xlim(0, 1)
    balance.set_title("share of yes answers")
    for kind, rows in frame.groupby("type"):
        lengths.hist(rows["output"].astype(str).str.split().str.len(), bins=np.arange(0, 60, 2), alpha=0.6,
                     label=str(kind))  # fmt: skip
    lengths.set_title("output length (words)")
    lengths.legend(fontsize="small")
    return figure


def write_statistics_plot(stats: TextStatistics, frame: pd.DataFrame, path: Path) -> None:
    """Write :func:`statistics_figure` as a PNG (atomically)."""
    buffer = io.BytesIO()
    statistics_figure(stats, frame).savefig(buffer, format="png", dpi=110)
    atomic_write_bytes(Path(path), buffer.getvalue())
