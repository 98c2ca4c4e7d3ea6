"""Scoring a model's answers on BigEarthNet.txt: per type and category, with a table, JSON and a bar plot.

Rows of the released ``point`` category (DESIGN 2.10 and the BigEarthNet.txt paper define no pointing metric) are
scored by exact match: right when the predicted points (or boxes) are the reference ones, in any order, each
coordinate equal after parsing (``(0.30, 0.4)`` matches ``<point>(0.3, 0.4)</point>``); they get an ``accuracy``
row of their own and are no part of the box scores (mIoU, Acc@IoU) of the ``all`` row.

Binary and multiple-choice answers are parsed tolerantly (:mod:`bigearth.text.answers`; an unparsable answer is
wrong and counted in ``unparsable``), boxes strictly (reference outputs and predictions by the same rules), and
scored as :mod:`bigearth.text.metrics` and :mod:`bigearth.text.caption_metrics` document. A caption
prediction is scored against every reference caption of its patch. Bad predictions files (missing or unknown IDs,
duplicated IDs, malformed boxes) raise an error that names the row, or, with ``skip_invalid``, the rows concerned
are left out, listed in :attr:`Evaluation.skipped`, and the rest is scored.

Large files: :func:`evaluate_file` reads the texts in batches (:func:`~bigearth.text.reader.iter_texts`) and
keeps only sums per type and category for binary, multiple-choice and box rows; the caption rows of each batch are
tokenised and kept as Arrow strings, and their corpus-level metrics computed chunk by chunk at the end
(:class:`~bigearth.text.caption_metrics.CaptionCorpus`). The predictions are held as one
Arrow table (``ID``, ``prediction``); per batch, the batch's IDs are hashed and the prediction IDs looked up in them.
"""

import io
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from matplotlib.figure import Figure

from bigearth.atomic import atomic_write_bytes, atomic_write_json
from bigearth.errors import BigEarthError, ConfigError, MetadataError, MissingDataError
from bigearth.text.answers import options_of, parse_binary, parse_boxes, parse_choice
from bigearth.text.caption_metrics import CaptionCorpus
from bigearth.text.metrics import IOU_THRESHOLD, IOU_THRESHOLDS, box_score
from bigearth.text.reader import BATCH_ROWS, TextCheck, check_texts, iter_texts, normalise_text_split, warn_legacy
from bigearth.text.schema import (
    BINARY,
    CAPTION,
    CATEGORIES,
    DETECTION,
    MULTIPLE_CHOICE,
    POINT,
    PREDICTION_COLUMNS,
    TEXT_COLUMNS,
)

ALL = "all"
_ACCURACY_AT = {f"accuracy_iou{round(t * 100)}": t for t in IOU_THRESHOLDS}
#: Metric columns of the score table, by text type.
METRICS: dict[str, tuple[str, ...]] = {
    BINARY: ("accuracy", "unparsable"),
    MULTIPLE_CHOICE: ("accuracy", "unparsable"),
    DETECTION: ("mean_iou", *_ACCURACY_AT, "box_precision_iou50", "box_recall_iou50", "accuracy"),
    CAPTION: ("bleu_1", "bleu_2", "bleu_3", "bleu_4", "rouge_l", "meteor", "cider"),
}
#: Columns of the score table that count rows (integers).
COUNTS: tuple[str, ...] = ("n", "unparsable")
#: Columns read from a texts file for scoring.
SCORED_COLUMNS: tuple[str, ...] = ("ID", "patch_id", "input", "output", "type", "category", "split")


@dataclass
class Evaluation:
    """The scores of one predictions file.

    Attributes:
        scores: one row per (type, category) and one ``all`` row per type: ``type``, ``category``, ``n`` and the
            :data:`METRICS` of the type (NaN elsewhere).
        skipped: ``(ID, reason)`` of rows left out (``skip_invalid``).
        unknown_categories: rows per category outside the released ones (scored under their own name).
        caption_backend: how captions were scored (``CaptionCorpus.backend`` of
            :mod:`~bigearth.text.caption_metrics`), or None.
    """

    scores: pd.DataFrame
    skipped: list[tuple[str, str]] = field(default_factory=list)
    unknown_categories: dict[str, int] = field(default_factory=dict)
    caption_backend: str | None = None

    def to_json(self) -> dict:
        """Return the scores as a JSON-ready dict (NaN left out)."""
        rows = [
            {key: value for key, value in row.items() if not pd.isna(value)} for row in self.scores.to_dict("records")
        ]
        return {"scores": rows, "skipped": [list(item) for item in self.skipped],
                "unknown_categories": self.unknown_categories, "caption_backend": self.caption_backend}  # fmt: skip


def _check_columns(frame: pd.DataFrame, columns: tuple[str, ...], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise MetadataError(f"the {what} lacks the column(s) {missing}; it needs {list(columns)}")


def read_predictions(path: Path) -> pa.Table:
    """Read a predictions parquet (or CSV) file as an Arrow table of strings (``ID``, ``prediction``).

    Raises:
        MissingDataError: if the file does not exist.
        MetadataError: if it cannot be read, lacks a column or holds no row.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingDataError(f"{path} does not exist; give the predictions file (columns ID, prediction)")
    try:
        if path.suffix == ".csv":
            strings = {name: pa.string() for name in PREDICTION_COLUMNS}
            table = pa_csv.read_csv(path, convert_options=pa_csv.ConvertOptions(column_types=strings,
                                                                                strings_can_be_null=False))  # fmt: skip
        else:  # batch by batch: reading the whole file at once needs about twice the memory of the table
            file = pq.ParquetFile(path)
            columns = [c for c in PREDICTION_COLUMNS if c in file.schema_arrow.names]
            batches = file.iter_batches(batch_size=BATCH_ROWS, columns=columns)
            schema = pa.schema([file.schema_arrow.field(c) for c in columns])
            table = pa.Table.from_batches(list(batches), schema)
    except (pa.ArrowInvalid, OSError) as error:
        raise MetadataError(f"{path} cannot be read as a predictions file ({error})") from error
    missing = [c for c in PREDICTION_COLUMNS if c not in table.column_names]
    if missing:
        raise MetadataError(
            f"the predictions {path} lack the column(s) {missing}; they need {list(PREDICTION_COLUMNS)}"
        )
    if table.num_rows == 0:
        raise MetadataError(f"the predictions {path} hold no row")
    return _prediction_table(table.select(list(PREDICTION_COLUMNS)))


def _prediction_table(table: pa.Table) -> pa.Table:
    """Return predictions as string columns (chunks kept: no copy of a 9.5 M-row table)."""
    return pa.table({name: pc.cast(table[name], pa.string()) for name in PREDICTION_COLUMNS})


class _Scores:
    """Sums per (type, category) over the batches of a texts file, and the caption rows."""

    def __init__(self, predictions: pa.Table, split: str | None, skip: bool) -> None:
        self.predictions, self.split, self.skip = predictions, split, skip
        self.seen = np.zeros(predictions.num_rows, dtype=bool)
        self.sums: dict[tuple[str, str], defaultdict] = {}
        self.skipped: list[tuple[str, str]] = []
        self.missing: list[str] = []
        self.captions = CaptionCorpus()

    def add(self, batch: pd.DataFrame) -> None:
        """Score one batch of checked texts."""
        # hash the batch's IDs (not the 9.5 M predictions') and find each prediction's row in the batch
        row = pc.index_in(self.predictions["ID"], value_set=pa.array(batch["ID"], pa.string()))
        matched = np.flatnonzero(row.is_valid().to_numpy(zero_copy_only=False))
        batch_rows = row.filter(row.is_valid()).to_numpy()
        if len(np.unique(batch_rows)) < len(batch_rows):
            twice = batch["ID"].iloc[np.flatnonzero(np.bincount(batch_rows) > 1)[0]]
            raise MetadataError(f"the predictions hold ID {twice!r} more than once; keep one answer per ID")
        position = np.full(len(batch), -1, dtype=np.int64)
        position[batch_rows] = matched
        self.seen[matched] = True
        references = batch[batch["type"] == CAPTION]
        scored = np.ones(len(batch), dtype=bool) if self.split is None else (batch["split"] == self.split).to_numpy()
        missing = scored & (position < 0)
        self.missing += batch.loc[missing, "ID"].tolist()
        rows = batch[scored & ~missing].copy()
        answers = pc.fill_null(self.predictions["prediction"].take(position[scored & ~missing]), "")
        rows["prediction"] = answers.to_pylist()
        captions = rows[rows["type"] == CAPTION]
        self.captions.add(references["patch_id"].tolist(), references["output"].tolist(),
                          captions["patch_id"].tolist(), captions["prediction"].tolist())  # fmt: skip
        for kind in (BINARY, MULTIPLE_CHOICE, DETECTION):
            of_kind = rows[rows["type"] == kind]
            if len(of_kind):
                values = self._boxes(of_kind) if kind == DETECTION else self._choices(of_kind, kind)
                groups = values.groupby(of_kind.loc[values.index, "category"]).sum(min_count=1)
                for category, sums in groups.iterrows():
                    total = self.sums.setdefault((kind, str(category)), defaultdict(float))
                    for name, value in sums.dropna().items():  # point rows have no IoU sums, box rows no "right"
                        total[name] += float(value)

    @staticmethod
    def _choices(rows: pd.DataFrame, kind: str) -> pd.DataFrame:
        if kind == BINARY:
            parsed = [parse_binary(p) for p in rows["prediction"]]
        else:
            parsed = [parse_choice(p, options_of(q)) for p, q in zip(rows["prediction"], rows["input"], strict=True)]
        right = [p == o for p, o in zip(parsed, rows["output"], strict=True)]
        return pd.DataFrame({"n": 1, "right": right, "unparsable": [p is None for p in parsed]}, index=rows.index)

    def _boxes(self, rows: pd.DataFrame) -> pd.DataFrame:
        records = {}
        for index, text_id, category, prediction, output in zip(rows.index, rows["ID"], rows["category"],
                                                                rows["prediction"], rows["output"],
                                                                strict=True):  # fmt: skip
            truth = parse_boxes(output, text_id, what="reference output")
            try:
                boxes = parse_boxes(prediction, text_id)
            except BigEarthError as error:
                if not self.skip:
                    raise
                self.skipped.append((text_id, str(error)))
                continue
            if category == POINT:  # exact match: the same points (or boxes), in any order
                records[index] = {"n": 1, "right": sorted(map(tuple, boxes)) == sorted(map(tuple, truth))}
                continue
            score = box_score(boxes, truth)
            records[index] = {"n": 1, "iou": score.iou, "matches": score.matches(IOU_THRESHOLD),
                              "predicted": score.predicted, "truth": score.truth,
                              **{name: score.right(t) for name, t in _ACCURACY_AT.items()}}  # fmt: skip
        return pd.DataFrame.from_dict(records, orient="index")

    def finish(self, check: TextCheck) -> Evaluation:
        """Check the IDs seen over the whole file and return the scores."""
        unknown = self.predictions["ID"].filter(pa.array(~self.seen)).to_pylist()
        if unknown and not self.skip:
            raise MetadataError(
                f"{len(unknown)} prediction ID(s) are not in the texts, e.g. {unknown[0]!r}; predict the texts' IDs "
                "(or pass --skip-invalid to ignore them)"
            )
        if self.missing and not self.skip:
            raise MissingDataError(
                f"{len(self.missing)} text(s) have no prediction, e.g. ID {self.missing[0]!r}; predict every row of "
                "the texts (or choose rows with --split, or pass --skip-invalid to score the rest)"
            )
        self.skipped += [(i, "ID not in the texts") for i in unknown] + [(i, "no prediction") for i in self.missing]
        records = [record for kind in (BINARY, MULTIPLE_CHOICE, DETECTION) for record in self._records(kind)]
        backend = None
        if len(self.captions):
            values, backend = self.captions.scores()
            records.append({"type": CAPTION, "category": ALL, "n": len(self.captions), **values})
        if not records:
            raise ConfigError("nothing to score: no text has a valid prediction (check --split and the IDs)")
        columns = ["type", "category", "n", *dict.fromkeys(m for ms in METRICS.values() for m in ms)]
        scores = pd.DataFrame.from_records(records).reindex(columns=columns).astype(dict.fromkeys(COUNTS, "Int64"))
        return Evaluation(scores, self.skipped, dict(check.unknown_categories), backend)

    def _records(self, kind: str) -> list[dict[str, object]]:
        order = {category: i for i, category in enumerate(CATEGORIES)}
        groups = sorted((c, s) for (k, c), s in self.sums.items() if k == kind)
        groups.sort(key=lambda item: order.get(item[0], len(order)))
        if not groups:
            return []
        total: defaultdict = defaultdict(float)
        for category, sums in groups:
            if kind != DETECTION or category != POINT:  # points are no part of the box scores
                for name, value in sums.items():
                    total[name] += value
        return [{"type": kind, "category": category, **_metrics(sums)} for category, sums in
                [*groups, (ALL, total)] if sums]  # fmt: skip


def _metrics(sums: dict[str, float]) -> dict[str, float | int]:
    """Return the metrics of one group from its sums (exact-match rows have ``right``, box rows ``iou``)."""
    n = int(sums["n"])
    if "iou" not in sums:
        counts = {"unparsable": int(sums["unparsable"])} if "unparsable" in sums else {}
        return {"n": n, "accuracy": sums["right"] / n, **counts}
    return {
        "n": n, "mean_iou": sums["iou"] / n, **{name: sums[name] / n for name in _ACCURACY_AT},
        "box_precision_iou50": sums["matches"] / sums["predicted"] if sums["predicted"] else float("nan"),
        "box_recall_iou50": sums["matches"] / sums["truth"] if sums["truth"] else float("nan"),
    }  # fmt: skip


def _evaluate(
    batches: Iterable[pd.DataFrame], predictions: pa.Table, split: str | None, skip_invalid: bool, check: TextCheck
) -> Evaluation:
    scores = _Scores(predictions, None if split is None else normalise_text_split(split), skip_invalid)
    for batch in batches:
        scores.add(batch)
    return scores.finish(check)


def evaluate_predictions(
    texts: pd.DataFrame, predictions: pd.DataFrame, *, split: str | None = None, skip_invalid: bool = False
) -> Evaluation:
    """Score predictions on a BigEarthNet.txt table held in memory.

    Args:
        texts: the texts (:data:`~bigearth.text.schema.TEXT_COLUMNS`; released or earlier bigearth values).
        predictions: ``ID`` and ``prediction`` per text.
        split: score the rows of one split only (``train``, ``validation``/``val``, ``test``, ``bench``); None:
            all rows.
        skip_invalid: leave out rows with missing, unknown or malformed predictions instead of failing.

    Raises:
        MissingDataError: texts without a prediction (names one ID and the count).
        MetadataError: duplicated or unknown prediction IDs, missing columns, an unknown type or split.
        CorruptDataError: a malformed box prediction (names the ID).
    """
    _check_columns(texts, TEXT_COLUMNS, "texts")
    _check_columns(predictions, PREDICTION_COLUMNS, "predictions")
    check = TextCheck()
    checked = check_texts(texts[list(SCORED_COLUMNS)], "the texts", check)
    warn_legacy(check, "the texts")
    table = _prediction_table(pa.Table.from_pandas(predictions[list(PREDICTION_COLUMNS)], preserve_index=False))
    return _evaluate([checked], table, split, skip_invalid, check)


def evaluate_file(
    texts: Path,
    predictions: pa.Table | pd.DataFrame,
    *,
    split: str | None = None,
    skip_invalid: bool = False,
    batch_rows: int = BATCH_ROWS,
) -> Evaluation:
    """Score predictions on a BigEarthNet.txt file, reading it in batches (see the module docstring).

    Args:
        texts: the texts parquet file.
        predictions: ``ID`` and ``prediction`` per text (:func:`read_predictions`).
        split: as :func:`evaluate_predictions`.
        skip_invalid: as :func:`evaluate_predictions`.
        batch_rows: texts read at a time.

    Raises:
        MissingDataError, MetadataError, CorruptDataError: as :func:`evaluate_predictions`, and for a missing,
            unreadable or empty texts file.
    """
    if isinstance(predictions, pd.DataFrame):
        _check_columns(predictions, PREDICTION_COLUMNS, "predictions")
        predictions = pa.Table.from_pandas(predictions[list(PREDICTION_COLUMNS)], preserve_index=False)
    check = TextCheck()
    batches = iter_texts(texts, SCORED_COLUMNS, check, batch_rows)
    return _evaluate(batches, _prediction_table(predictions), split, skip_invalid, check)


def score_figure(evaluation: Evaluation) -> Figure:
    """Bar plot per category: accuracy of binary and multiple-choice answers, accuracy at IoU 0.5 of boxes."""
    scores = evaluation.scores
    bars = [(BINARY, "accuracy"), (MULTIPLE_CHOICE, "accuracy"), (DETECTION, "accuracy_iou50")]
    categories = list(dict.fromkeys(scores.loc[scores["type"] != CAPTION, "category"]))
    figure = Figure(figsize=(max(6.0, 0.9 * len(categories) + 2), 4), layout="constrained")
    axes = figure.add_subplot()
    width = 0.8 / len(bars)
    for i, (kind, metric) in enumerate(bars):
        rows = scores[scores["type"] == kind].set_index("category")[metric].reindex(categories)
        axes.bar(np.arange(len(categories)) + (i - 1) * width, rows.to_numpy(dtype=float), width,
                 label=f"{kind} ({metric})")  # fmt: skip
    axes.set_xticks(np.arange(len(categories)), categories, rotation=30, ha="right")
    axes.set_ylim(0, 1)
    axes.set_ylabel("score")
    axes.legend(fontsize="small")
    axes.set_title("BigEarthNet.txt scores per category")
    return figure


def write_report(evaluation: Evaluation, folder: Path) -> None:
    """Write ``metrics.json``, ``scores.csv`` and ``scores.png`` into ``folder`` (atomically)."""
    folder = Path(folder)
    atomic_write_json(folder / "metrics.json", evaluation.to_json())
    atomic_write_bytes(folder / "scores.csv", evaluation.scores.to_csv(index=False).encode())
    buffer = io.BytesIO()
    score_figure(evaluation).savefig(buffer, format="png", dpi=120)
    atomic_write_bytes(folder / "scores.png", buffer.getvalue())
