"""VQA metrics per split: overall, per-type and average accuracy, macro F1 over answers, per-category accuracy.

Definitions (each question counts once; its prediction is the answer with the highest score):

* **overall accuracy**: the share of questions answered right (an answer outside the vocabulary is always wrong).
* **accuracy of a type** (``yes/no``, ``land cover``, ``multiple choice``): the overall accuracy of that type's
  questions.
* **average accuracy** (AA): the unweighted mean of the type accuracies over the types present, as in RSVQA and
  LiT-4-RSVQA (there: the mean of the yes/no and land-cover accuracies). Best checkpoints are chosen on it.
* **macro F1**: the unweighted mean of the per-answer F1 (one-vs-rest over the predicted answer) over the answers
  that are the right answer of at least one question of the split; answers outside the vocabulary form one extra
  answer that is never predicted. (LiT-4-RSVQA divides by all 1000 answers instead, which rewards nothing.)
* **accuracy of a category**: the accuracy of each question form (RSVQA) or task category (BigEarthNet.txt).
"""

import math
from dataclasses import dataclass
from typing import Any

import torch
from rich.table import Table
from torch import Tensor

from bigearth.evaluation.metrics import MultilabelScores
from bigearth.models.vqa.answers import OUTSIDE

DEFINITIONS = {
    "overall_accuracy": "share of questions answered right (answers outside the vocabulary are always wrong)",
    "average_accuracy": "unweighted mean of the accuracies of the question types present",
    "macro_f1": "mean per-answer F1 over the answers that are right for at least one question of the split",
    "category_accuracy": "accuracy of each question form (RSVQA) or task category (BigEarthNet.txt)",
}


class VQAScores(MultilabelScores):
    """Collects predicted and right answers of a split with each question's type and category.

    The answers are synced across processes and each question counts once (the de-duplication of
    :class:`~bigearth.evaluation.metrics.MultilabelScores`).

    Shapes:
        update: ``predictions``, ``answers``, ``types``, ``categories`` and ``ids``, all ``(B,)`` int64.
        compute: :meth:`columns` returns the four ``(N,)`` int64 columns, N = distinct ids seen.
    """

    def update(self, predictions: Tensor, answers: Tensor, types: Tensor, categories: Tensor, ids: Tensor) -> None:  # type: ignore[override]
        """Add one batch (the integer columns travel as exact float32 values, all far below 2**24)."""
        columns = torch.stack([predictions, types, categories], dim=1).float()
        super().update(columns, answers.view(-1, 1), ids)

    def columns(self) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Return ``(predictions, answers, types, categories)`` of the distinct questions seen."""
        columns, answers = self.compute()
        if not len(columns):
            empty = torch.empty(0, dtype=torch.int64)
            return empty, empty, empty, empty
        values = columns.long()
        return values[:, 0], answers[:, 0].long(), values[:, 1], values[:, 2]


def per_answer_f1(predictions: Tensor, targets: Tensor, num_answers: int) -> Tensor:
    """Return the F1 score of every answer ``(num_answers,)`` (0 where an answer is neither predicted nor right).

    Written out with three ``bincount`` calls because torchmetrics' multiclass F1 under deterministic algorithms
    (``trainer.deterministic``) counts with an ``(N, num_answers**2)`` comparison: 16 GB for the 3,450 validation
    questions and 534 answers of the mini-reBEN demo.

    Args:
        predictions: ``(N,)`` int64 predicted answer indices.
        targets: ``(N,)`` int64 right answer indices, all below ``num_answers``.
        num_answers: number of answers.
    """
    hits = torch.bincount(targets[predictions == targets], minlength=num_answers).double()
    counted = torch.bincount(predictions, minlength=num_answers) + torch.bincount(targets, minlength=num_answers)
    return torch.where(counted > 0, 2 * hits / counted.clamp(min=1), 0.0).float()


def _rate(right: Tensor, chosen: Tensor) -> float:
    """Return the share of ``right`` among ``chosen`` questions (NaN if none is chosen)."""
    count = int(chosen.sum())
    return float(right[chosen].float().mean()) if count else math.nan


@dataclass(frozen=True)
class VQAReport:
    """The metrics of one split.

    Attributes:
        samples: questions evaluated.
        overall_accuracy: share answered right.
        average_accuracy: mean of the type accuracies present.
        macro_f1: mean per-answer F1 over the answers present.
        types: question type names; ``type_accuracy`` and ``type_support`` follow their order.
        type_accuracy: accuracy per type (NaN where absent).
        type_support: questions per type.
        categories: category names; ``category_accuracy`` and ``category_support`` follow their order.
        category_accuracy: accuracy per category (NaN where absent).
        category_support: questions per category.
        answers_present: distinct right answers in the split (what macro F1 averages over).
        outside_vocabulary: questions whose right answer is not in the vocabulary.
    """

    samples: int
    overall_accuracy: float
    average_accuracy: float
    macro_f1: float
    types: tuple[str, ...]
    type_accuracy: tuple[float, ...]
    type_support: tuple[int, ...]
    categories: tuple[str, ...]
    category_accuracy: tuple[float, ...]
    category_support: tuple[int, ...]
    answers_present: int
    outside_vocabulary: int

    def accuracy_of(self, question_type: str) -> float:
        """Return the accuracy of a question type (NaN if absent)."""
        return self.type_accuracy[self.types.index(question_type)] if question_type in self.types else math.nan

    def scalars(self) -> dict[str, float]:
        """Return the logged values: ``overall_accuracy``, ``average_accuracy``, ``macro_f1``, ``accuracy_<type>``."""
        values = {"overall_accuracy": self.overall_accuracy, "average_accuracy": self.average_accuracy,
                  "macro_f1": self.macro_f1}  # fmt: skip
        for name, accuracy in zip(self.types, self.type_accuracy, strict=True):
            if not math.isnan(accuracy):
                values[f"accuracy_{slug(name)}"] = accuracy
        return values

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (NaN becomes None)."""

        def clean(value: float) -> float | None:
            return None if math.isnan(value) else round(value, 6)

        return {
            "samples": self.samples,
            "overall_accuracy": clean(self.overall_accuracy),
            "average_accuracy": clean(self.average_accuracy),
            "macro_f1": clean(self.macro_f1),
            "type_accuracy": {name: {"accuracy": clean(acc), "questions": n}
                              for name, acc, n in zip(self.types, self.type_accuracy, self.type_support,
                                                      strict=True)},
            "category_accuracy": {name: {"accuracy": clean(acc), "questions": n}
                                  for name, acc, n in zip(self.categories, self.category_accuracy,
                                                          self.category_support, strict=True)},
            "answers_present": self.answers_present,
            "outside_vocabulary": self.outside_vocabulary,
            "definitions": DEFINITIONS,
        }  # fmt: skip

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> "VQAReport":
        """Rebuild a report from :meth:`to_dict` output (e.g. a run's ``metrics.json``)."""

        def number(value: float | None) -> float:
            return math.nan if value is None else float(value)

        types, categories = payload["type_accuracy"], payload["category_accuracy"]
        return cls(
            samples=int(payload["samples"]),
            overall_accuracy=number(payload["overall_accuracy"]),
            average_accuracy=number(payload["average_accuracy"]),
            macro_f1=number(payload["macro_f1"]),
            types=tuple(types),
            type_accuracy=tuple(number(row["accuracy"]) for row in types.values()),
            type_support=tuple(int(row["questions"]) for row in types.values()),
            categories=tuple(categories),
            category_accuracy=tuple(number(row["accuracy"]) for row in categories.values()),
            category_support=tuple(int(row["questions"]) for row in categories.values()),
            answers_present=int(payload["answers_present"]),
            outside_vocabulary=int(payload["outside_vocabulary"]),
        )


def slug(name: str) -> str:
    """Return a type name as a metric key part (``yes/no`` -> ``yes_no``, ``land cover`` -> ``land_cover``)."""
    return "".join(c if c.isalnum() else "_" for c in name.lower())


def vqa_report(
    predictions: Tensor,
    answers: Tensor,
    types: Tensor,
    categories: Tensor,
    *,
    type_names: tuple[str, ...],
    category_names: tuple[str, ...],
    num_answers: int,
) -> VQAReport:
    """Compute the metrics of a split (see the module docstring for the definitions).

    Args:
        predictions: ``(N,)`` predicted answer indices in ``0 .. num_answers - 1``.
        answers: ``(N,)`` right answer indices, :data:`~bigearth.models.vqa.answers.OUTSIDE` (-1) outside the
            vocabulary.
        types: ``(N,)`` indices into ``type_names``.
        categories: ``(N,)`` indices into ``category_names``.
        type_names: question type names.
        category_names: category names.
        num_answers: size of the answer vocabulary.

    Raises:
        ValueError: if there are no questions or the shapes disagree.
    """
    columns = (predictions, answers, types, categories)
    if any(column.ndim != 1 or len(column) != len(predictions) for column in columns):
        raise ValueError(
            f"predictions, answers, types and categories must be (N,), got {[tuple(c.shape) for c in columns]}"
        )
    if not len(predictions):
        raise ValueError("no questions to evaluate: the split is empty")
    predictions, answers, types, categories = (column.long().cpu() for column in columns)
    right = predictions == answers
    type_accuracy = tuple(_rate(right, types == i) for i in range(len(type_names)))
    present = [value for value in type_accuracy if not math.isnan(value)]
    # answers outside the vocabulary become one extra class that is never predicted
    targets = torch.where(answers == OUTSIDE, num_answers, answers)
    per_answer = per_answer_f1(predictions, targets, num_answers + 1)
    support = torch.bincount(targets, minlength=num_answers + 1) > 0
    return VQAReport(
        samples=len(predictions),
        overall_accuracy=float(right.float().mean()),
        average_accuracy=sum(present) / len(present) if present else math.nan,
        macro_f1=float(per_answer[support].mean()),
        types=tuple(type_names),
        type_accuracy=type_accuracy,
        type_support=tuple(int((types == i).sum()) for i in range(len(type_names))),
        categories=tuple(category_names),
        category_accuracy=tuple(_rate(right, categories == i) for i in range(len(category_names))),
        category_support=tuple(int((categories == i).sum()) for i in range(len(category_names))),
        answers_present=int(support[:num_answers].sum()),
        outside_vocabulary=int((answers == OUTSIDE).sum()),
    )


def report_table(report: VQAReport, *, title: str = "") -> Table:
    """Return a rich table of a report: the summary accuracies, then one row per type and per category."""

    def cell(value: float) -> str:
        return "-" if math.isnan(value) else f"{value:.3f}"

    table = Table(title=title or None, caption=f"macro F1 over the {report.answers_present} answers present; "
                  f"{report.outside_vocabulary} question(s) with an answer outside the vocabulary",
                  caption_justify="left")  # fmt: skip
    table.add_column("metric")
    table.add_column("questions", justify="right")
    table.add_column("value", justify="right")
    table.add_row("overall accuracy", str(report.samples), cell(report.overall_accuracy), style="bold")
    for name, accuracy, count in zip(report.types, report.type_accuracy, report.type_support, strict=True):
        table.add_row(f"{name} accuracy", str(count), cell(accuracy))
    table.add_row("average accuracy (AA)", str(report.samples), cell(report.average_accuracy), style="bold")
    table.add_row("macro F1 (answers)", str(report.samples), cell(report.macro_f1))
    table.add_section()
    for name, accuracy, count in zip(report.categories, report.category_accuracy, report.category_support,
                                     strict=True):  # fmt: skip
        table.add_row(f"  {name}", str(count), cell(accuracy), style=None if count else "dim")
    return table
