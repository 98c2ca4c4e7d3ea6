"""Statistics of a text file: counts per type and category, answer balance, text lengths; printed and plotted.

Works on BigEarthNet.txt files (checked and read in batches by :mod:`bigearth.text.reader`, so the 9.5 M-row
release fits in memory) and on RSVQAxBEN-style files (``question``/``answer``/``form`` are read as
``input``/``output``/``category``). Lengths are in words (split on spaces).
"""

import io
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from matplotlib.figure import Figure

from bigearth.atomic import atomic_write_bytes
from bigearth.errors import MetadataError
from bigearth.text.reader import BATCH_ROWS, TextCheck, check_texts, iter_texts, open_parquet, warn_legacy
from bigearth.text.schema import LETTERS, MULTIPLE_CHOICE, RSVQA_COLUMNS, YES

_PARTS = ("input", "output")
_RSVQA_NAMES = {"question": "input", "answer": "output", "form": "category"}


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
        output_lengths: words of the outputs, per type (for the plot).
        unknown_categories: rows per category outside the released ones (BigEarthNet.txt files).
    """

    counts: pd.DataFrame
    yes_share: pd.DataFrame
    letters: pd.DataFrame
    lengths: pd.DataFrame
    patches: int
    output_lengths: dict[str, np.ndarray] = field(default_factory=dict)
    unknown_categories: dict[str, int] = field(default_factory=dict)


def _counts(counter: Counter, names: list[str]) -> pd.DataFrame:
    rows = [(*key, value) for key, value in sorted(counter.items())]
    return pd.DataFrame(rows, columns=[*names[:-1], names[-1]]).astype({names[-1]: "int64"})


def statistics_of(batches: Iterable[pd.DataFrame], check: TextCheck | None = None) -> TextStatistics:
    """Return the statistics of text batches (``input``, ``output``, ``type``, ``category``, ``patch_id``)."""
    counts: Counter = Counter()
    yes_no: Counter = Counter()
    yes: Counter = Counter()
    letters: Counter = Counter()
    words: dict[tuple[str, str], list[np.ndarray]] = {}
    patches: set[str] = set()
    for frame in batches:
        counts.update(frame.groupby(["type", "category"]).size().to_dict())
        answered = frame[frame["output"].isin(["yes", "no"])]
        yes_no.update(answered.groupby(["type", "category"]).size().to_dict())
        yes.update(answered[answered["output"] == YES].groupby(["type", "category"]).size().to_dict())
        choices = frame[frame["type"] == MULTIPLE_CHOICE]
        letters.update(choices.groupby(["category", "output"]).size().to_dict())
        for part in _PARTS:
            length = frame[part].astype(str).str.split().str.len().to_numpy(dtype=np.int32)
            for kind, rows in pd.Series(length).groupby(frame["type"].to_numpy()):
                words.setdefault((str(kind), part), []).append(rows.to_numpy())
        patches.update(frame["patch_id"].unique().tolist())
    if not counts:
        raise MetadataError("the text file holds no row")
    share = _counts(yes_no, ["type", "category", "questions"])
    share["yes_share"] = [yes[(t, c)] / n for t, c, n in share.itertuples(index=False)]
    letter_table = pd.Series(letters, dtype="int64")
    letter_table = (letter_table.unstack(fill_value=0) if len(letter_table) else pd.DataFrame()).reindex(
        columns=list(LETTERS), fill_value=0
    )
    lengths = {key: np.concatenate(parts) for key, parts in words.items()}
    table = pd.DataFrame(
        [
            (kind, part, float(v.mean()), float(np.median(v)), int(v.max()))
            for (kind, part), v in sorted(lengths.items())
        ],
        columns=["type", "part", "mean", "median", "max"],
    )
    return TextStatistics(
        _counts(counts, ["type", "category", "texts"]), share, letter_table, table, len(patches),
        {kind: v for (kind, part), v in lengths.items() if part == "output"},
        dict(check.unknown_categories) if check is not None else {},
    )  # fmt: skip


def text_statistics(frame: pd.DataFrame) -> TextStatistics:
    """Return the statistics of a text table held in memory (BigEarthNet.txt or RSVQAxBEN-style)."""
    if "question" in frame.columns:
        return statistics_of([frame.rename(columns=_RSVQA_NAMES)])
    check = TextCheck()
    checked = check_texts(frame, "the texts", check)
    warn_legacy(check, "the texts")
    return statistics_of([checked], check)


def _rsvqa_batches(file: pq.ParquetFile, batch_rows: int) -> Iterator[pd.DataFrame]:
    columns = ["patch_id", "question", "answer", "type", "form"]
    for batch in file.iter_batches(batch_size=batch_rows, columns=columns):
        yield batch.to_pandas().rename(columns=_RSVQA_NAMES)


def file_statistics(path: Path, batch_rows: int = BATCH_ROWS) -> TextStatistics:
    """Return the statistics of a text file, read in batches (BigEarthNet.txt or RSVQAxBEN-style).

    Raises:
        MissingDataError: if the file does not exist.
        CorruptDataError: if it is no parquet file.
        MetadataError: for missing columns, unknown types or splits, or no row (:mod:`bigearth.text.reader`).
    """
    file = open_parquet(path)
    if set(RSVQA_COLUMNS) <= set(file.schema_arrow.names):
        return statistics_of(_rsvqa_batches(file, batch_rows))
    check = TextCheck()
    return statistics_of(iter_texts(path, ["patch_id", *_PARTS], check, batch_rows), check)


def statistics_figure(stats: TextStatistics) -> Figure:
    """Three panels: texts per category and type, yes share per category, histogram of output lengths."""
    figure = Figure(figsize=(15, 4.5), layout="constrained")
    counts, balance, lengths = figure.subplots(1, 3)
    table = stats.counts.pivot(index="category", columns="type", values="texts").fillna(0)
    bottom = np.zeros(len(table))
    positions = np.arange(len(table))
    for kind in table.columns:
        counts.bar(positions, table[kind], bottom=bottom, label=str(kind))
        bottom += table[kind].to_numpy()
    counts.set_xticks(positions, table.index, rotation=60, ha="right", rotation_mode="anchor")
    counts.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1, 1))  # beside the bars, never over one
    counts.set_title("texts per category and type")
    counts.set_ylabel("texts")
    if len(stats.yes_share):
        labels = [f"{t}: {c}" for t, c in zip(stats.yes_share["type"], stats.yes_share["category"], strict=True)]
        balance.barh(labels, stats.yes_share["yes_share"])
        balance.axvline(0.5, color="black", linewidth=0.8)
        balance.set_xlim(0, 1)
    balance.set_title("share of yes answers")
    for kind, words in stats.output_lengths.items():
        lengths.hist(words, bins=np.arange(0, 60, 2), alpha=0.6, label=kind)
    lengths.set_title("output length (words)")
    lengths.legend(fontsize="small")
    return figure


def write_statistics_plot(stats: TextStatistics, path: Path) -> None:
    """Write :func:`statistics_figure` as a PNG (atomically)."""
    buffer = io.BytesIO()
    statistics_figure(stats).savefig(buffer, format="png", dpi=110)
    atomic_write_bytes(Path(path), buffer.getvalue())
