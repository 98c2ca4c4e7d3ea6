"""Scoring a model's answers on BigEarthNet.txt: per type and category, with a table, JSON and a bar plot.

Binary and multiple-choice answers are parsed tolerantly (:mod:`bigearth.text.answers`; an unparsable answer is
wrong and counted in ``unparsable``), boxes strictly, and scored as :mod:`bigearth.text.metrics` documents.
A caption prediction is scored against every reference caption of its patch. Bad predictions files (missing or
unknown IDs, duplicated IDs, malformed boxes) raise an error that names the row, or, with ``skip_invalid``, the
rows concerned are left out, listed in :attr:`Evaluation.skipped`, and the rest is scored.
"""

import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from bigearth.atomic import atomic_write_bytes, atomic_write_json
from bigearth.data.layout import normalise_split
from bigearth.errors import BigEarthError, ConfigError, MetadataError, MissingDataError
from bigearth.text.answers import options_of, parse_binary, parse_boxes, parse_choice
from bigearth.text.metrics import box_score, caption_scores
from bigearth.text.schema import (
    BINARY,
    CAPTION,
    CATEGORIES,
    DETECTION,
    MULTIPLE_CHOICE,
    PREDICTION_COLUMNS,
    TEXT_COLUMNS,
)

ALL = "all"
#: Metric columns of the score table, by text type.
METRICS: dict[str, tuple[str, ...]] = {
    BINARY: ("accuracy", "unparsable"),
    MULTIPLE_CHOICE: ("accuracy", "unparsable"),
    DETECTION: ("mean_iou", "accuracy_iou50", "box_precision_iou50", "box_recall_iou50"),
    CAPTION: ("bleu_1", "bleu_2", "bleu_3", "bleu_4", "rouge_l", "meteor", "cider"),
}


@dataclass
class Evaluation:
    """The scores of one predictions file.

    Attributes:
        scores: one row per (type, category) and one ``all`` row per type: ``type``, ``category``, ``n`` and the
            :data:`METRICS` of the type (NaN elsewhere).
        skipped: ``(ID, reason)`` of rows left out (``skip_invalid``).
    """

    scores: pd.DataFrame
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def to_json(self) -> dict:
        """Return the scores as a JSON-ready dict (NaN left out)."""
        rows = [
            {key: value for key, value in row.items() if not (isinstance(value, float) and np.isnan(value))}
            for row in self.scores.to_dict("records")
        ]
        return {"scores": rows, "skipped": [list(item) for item in self.skipped]}


def _check_columns(frame: pd.DataFrame, columns: tuple[str, ...], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise MetadataError(f"the {what} lacks the column(s) {missing}; it needs {list(columns)}")


def read_table(path: Path, columns: tuple[str, ...], what: str) -> pd.DataFrame:
    """Read a parquet (or CSV) table and check its columns.

    Raises:
        MissingDataError: if the file does not exist.
        MetadataError: if it cannot be read or lacks a column.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingDataError(f"{path} does not exist; give the {what} file")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False) if path.suffix == ".csv" else pd.read_parquet(path)
    except (OSError, ValueError) as error:
        raise MetadataError(f"{path} cannot be read as a {what} ({error})") from error
    _check_columns(frame, columns, f"{what} {path}")
    return frame


def _match(texts: pd.DataFrame, predictions: pd.DataFrame, skip: bool) -> tuple[pd.DataFrame, list]:
    """Join predictions to texts by ID, checking for duplicated, unknown and missing IDs."""
    skipped: list[tuple[str, str]] = []
    duplicated = predictions["ID"][predictions["ID"].duplicated()]
    if len(duplicated):
        raise MetadataError(f"the predictions hold ID {duplicated.iloc[0]!r} more than once; keep one answer per ID")
    known = set(texts["ID"])
    unknown = predictions.loc[~predictions["ID"].isin(known), "ID"]
    if len(unknown) and not skip:
        raise MetadataError(
            f"{len(unknown)} prediction ID(s) are not in the texts, e.g. {unknown.iloc[0]!r}; predict the texts' IDs "
            "(or pass --skip-invalid to ignore them)"
        )
    skipped += [(i, "ID not in the texts") for i in unknown]
    missing = texts.loc[~texts["ID"].isin(set(predictions["ID"])), "ID"]
    if len(missing) and not skip:
        raise MissingDataError(
            f"{len(missing)} text(s) have no prediction, e.g. ID {missing.iloc[0]!r}; predict every row of the "
            "texts (or choose rows with --split, or pass --skip-invalid to score the rest)"
        )
    skipped += [(i, "no prediction") for i in missing]
    merged = texts.merge(predictions[list(PREDICTION_COLUMNS)], on="ID", how="inner")
    merged["prediction"] = merged["prediction"].fillna("").astype(str)
    return merged, skipped


def _choice_rows(rows: pd.DataFrame, kind: str) -> dict[str, object]:
    if kind == BINARY:
        parsed = [parse_binary(p) for p in rows["prediction"]]
    else:
        parsed = [parse_choice(p, options_of(q)) for p, q in zip(rows["prediction"], rows["input"], strict=True)]
    right = [p == o for p, o in zip(parsed, rows["output"], strict=True)]
    return {"n": len(rows), "accuracy": float(np.mean(right)), "unparsable": sum(p is None for p in parsed)}


def _detection_rows(scores: list) -> dict[str, object]:
    predicted, truth = sum(s.predicted for s in scores), sum(s.truth for s in scores)
    matches = sum(s.matches for s in scores)
    return {
        "n": len(scores),
        "mean_iou": float(np.mean([s.iou for s in scores])),
        "accuracy_iou50": float(np.mean([s.right for s in scores])),
        "box_precision_iou50": matches / predicted if predicted else float("nan"),
        "box_recall_iou50": matches / truth if truth else float("nan"),
    }


def evaluate_predictions(
    texts: pd.DataFrame, predictions: pd.DataFrame, *, split: str | None = None, skip_invalid: bool = False
) -> Evaluation:
    """Score predictions on a BigEarthNet.txt table.

    Args:
        texts: the texts (:data:`~bigearth.text.schema.TEXT_COLUMNS`).
        predictions: ``ID`` and ``prediction`` per text.
        split: score the rows of one split only (``train``, ``validation``/``val``, ``test``); None: all rows.
        skip_invalid: leave out rows with missing, unknown or malformed predictions instead of failing.

    Raises:
        MissingDataError: texts without a prediction (names one ID and the count).
        MetadataError: duplicated or unknown prediction IDs, missing columns.
        CorruptDataError: a malformed box prediction (names the ID).
    """
    _check_columns(texts, TEXT_COLUMNS, "texts")
    _check_columns(predictions, PREDICTION_COLUMNS, "predictions")
    scored = texts if split is None else texts[texts["split"] == normalise_split(split)]
    if split is not None:
        predictions = predictions[predictions["ID"].isin(set(scored["ID"])) | ~predictions["ID"].isin(set(texts["ID"]))]
    merged, skipped = _match(scored, predictions, skip_invalid)
    detection = merged["type"] == DETECTION
    box_scores: dict[int, object] = {}
    for index, row in merged[detection].iterrows():
        try:
            boxes = parse_boxes(row["prediction"], row["ID"])
        except BigEarthError as error:
            if not skip_invalid:
                raise
            skipped.append((row["ID"], str(error)))
            continue
        box_scores[index] = box_score(boxes, json.loads(row["output"]))
    merged = merged[~detection | merged.index.isin(list(box_scores))]
    records = []
    for kind in (BINARY, MULTIPLE_CHOICE, DETECTION):
        rows_of_kind = merged[merged["type"] == kind]
        order = {category: i for i, category in enumerate(CATEGORIES)}
        grouped = sorted(rows_of_kind.groupby("category"), key=lambda item: order.get(item[0], len(order)))
        groups = [*grouped, (ALL, rows_of_kind)]
        for category, rows in groups:
            if len(rows) == 0:
                continue
            if kind == DETECTION:
                values = _detection_rows([box_scores[i] for i in rows.index])
            else:
                values = _choice_rows(rows, kind)
            records.append({"type": kind, "category": category, **values})
    captions = merged[merged["type"] == CAPTION]
    if len(captions):
        references = texts[texts["type"] == CAPTION].groupby("patch_id")["output"].agg(list)
        values = caption_scores(list(captions["prediction"]), list(references.loc[captions["patch_id"]]))
        records.append({"type": CAPTION, "category": ALL, "n": len(captions), **values})
    if not records:
        raise ConfigError("nothing to score: no text has a valid prediction (check --split and the IDs)")
    columns = ["type", "category", "n", *dict.fromkeys(m for ms in METRICS.values() for m in ms)]
    return Evaluation(pd.DataFrame.from_records(records).reindex(columns=columns), skipped)


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
