"""Multi-label classification metrics per split: per class, macro and micro, computed with torchmetrics.

Definitions (``p`` = predicted probability, ``y`` = 0/1 label, per class ``c`` over the samples of a split):

* **average precision** (AP) of class c: the area under its precision-recall curve as a step function,
  ``sum_k (R_k - R_{k-1}) P_k`` over the descending score thresholds (no interpolation; torchmetrics and
  scikit-learn agree on it).
* **precision, recall, F1** of class c at threshold 0.5: ``TP/(TP+FP)``, ``TP/(TP+FN)`` and their harmonic
  mean, with a predicted label where ``p >= 0.5`` (0 where a denominator is 0).
* **macro** average: the unweighted mean of the per-class values over the classes **present** in the evaluated
  split (at least one positive sample); a class without positives has no defined AP or recall and is left out,
  and the report says which classes it left out.
* **micro** average: the metric of all (sample, class) decisions pooled, as if they were one binary problem.

Every sample counts once: the scores of a split are gathered from all processes with torchmetrics' sync and
de-duplicated by patch id, so the padding that ``DistributedSampler`` adds to even out processes is not counted.
"""

import hashlib
import math
import warnings
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.functional.classification import (
    multilabel_average_precision,
    multilabel_f1_score,
    multilabel_precision,
    multilabel_recall,
)
from torchmetrics.utilities import dim_zero_cat

#: Probability at or above which a class is predicted.
THRESHOLD = 0.5
#: Metric names of the report, in display order.
METRICS = ("ap", "f1", "precision", "recall")

DEFINITIONS = {
    "ap": "average precision: area under the precision-recall curve (step function, no interpolation)",
    "precision": "TP / (TP + FP) with labels predicted where probability >= threshold",
    "recall": "TP / (TP + FN) with labels predicted where probability >= threshold",
    "f1": "harmonic mean of precision and recall",
    "macro": "unweighted mean over the classes present in the split (at least one positive sample)",
    "micro": "the metric over all (sample, class) decisions pooled",
}


def sample_ids(patch_ids: list[str], device: torch.device | None = None) -> Tensor:
    """Return stable 63-bit integer ids of patch names ``(B,)`` int64, to de-duplicate samples across processes."""
    values = [
        int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "little") >> 1 for name in patch_ids
    ]
    return torch.tensor(values, dtype=torch.int64, device=device)


class MultilabelScores(Metric):
    """Collects the probabilities and labels of a split, synced across processes, each sample once.

    Shapes:
        update: ``probabilities`` ``(B, C)`` float in [0, 1], ``targets`` ``(B, C)`` 0/1, ``ids`` ``(B,)`` int64.
        compute: ``(N, C)`` float32 probabilities and ``(N, C)`` int64 targets, N = distinct ids seen, in the
        order first seen (process by process after a sync).
    """

    full_state_update = False

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_state("probabilities", default=[], dist_reduce_fx="cat")
        self.add_state("targets", default=[], dist_reduce_fx="cat")
        self.add_state("ids", default=[], dist_reduce_fx="cat")

    def update(self, probabilities: Tensor, targets: Tensor, ids: Tensor) -> None:
        """Add one batch."""
        self.probabilities.append(probabilities.detach().float())
        self.targets.append(targets.detach().long())
        self.ids.append(ids.detach().long())

    def compute(self) -> tuple[Tensor, Tensor]:
        """Return all probabilities and targets, one row per distinct sample id."""
        if isinstance(self.ids, list) and not self.ids:  # after a sync the states are tensors, not lists
            return torch.empty(0, 0), torch.empty(0, 0, dtype=torch.long)
        probabilities, targets, ids = (dim_zero_cat(state) for state in (self.probabilities, self.targets, self.ids))
        unique, inverse = torch.unique(ids, return_inverse=True)
        order = torch.arange(len(ids), device=ids.device)
        first = torch.full((len(unique),), len(ids), device=ids.device).scatter_reduce(0, inverse, order, "amin")
        first = first.sort().values
        return probabilities[first], targets[first]


@dataclass(frozen=True)
class ClassificationReport:
    """Metrics of one split.

    Attributes:
        class_names: classes in output order.
        samples: number of evaluated samples.
        support: positive samples per class.
        per_class: metric name -> value per class (NaN for classes without positives).
        macro: metric name -> mean over the present classes.
        micro: metric name -> pooled value.
        threshold: the decision threshold of precision, recall and F1.
    """

    class_names: tuple[str, ...]
    samples: int
    support: tuple[int, ...]
    per_class: dict[str, tuple[float, ...]]
    macro: dict[str, float]
    micro: dict[str, float]
    threshold: float = THRESHOLD

    @property
    def present(self) -> tuple[str, ...]:
        """Classes with at least one positive sample (the classes macro averages run over)."""
        return tuple(name for name, count in zip(self.class_names, self.support, strict=True) if count > 0)

    @property
    def note(self) -> str:
        """A sentence saying what the macro averages cover."""
        absent = [name for name in self.class_names if name not in self.present]
        text = f"macro averages are over the {len(self.present)} of {len(self.class_names)} classes present"
        return text + (f" (absent: {', '.join(absent)})" if absent else "") + f"; threshold {self.threshold}"

    def scalars(self) -> dict[str, float]:
        """Return ``{"macro_ap": ..., "micro_ap": ..., "macro_f1": ...}`` for logging."""
        return {f"{kind}_{name}": values[name] for name in METRICS for kind, values in (("macro", self.macro),
                ("micro", self.micro))}  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (NaN becomes None)."""

        def clean(value: float) -> float | None:
            return None if math.isnan(value) else round(value, 6)

        return {
            "samples": self.samples,
            "threshold": self.threshold,
            "note": self.note,
            "macro": {name: clean(value) for name, value in self.macro.items()},
            "micro": {name: clean(value) for name, value in self.micro.items()},
            "present_classes": list(self.present),
            "per_class": {
                name: {"support": self.support[i], **{m: clean(self.per_class[m][i]) for m in METRICS}}
                for i, name in enumerate(self.class_names)
            },
            "definitions": DEFINITIONS,
        }


def classification_report(
    probabilities: Tensor, targets: Tensor, class_names: tuple[str, ...], *, threshold: float = THRESHOLD
) -> ClassificationReport:
    """Compute per-class, macro (present classes) and micro metrics.

    Args:
        probabilities: ``(N, C)`` predicted probabilities.
        targets: ``(N, C)`` 0/1 labels.
        class_names: the C class names in column order.
        threshold: probability at or above which a class is predicted.

    Raises:
        ValueError: if there are no samples or the shapes disagree.
    """
    if probabilities.ndim != 2 or probabilities.shape != targets.shape or probabilities.shape[1] != len(class_names):
        raise ValueError(
            f"probabilities {tuple(probabilities.shape)} and targets {tuple(targets.shape)} must both be "
            f"(N, {len(class_names)})"
        )
    if probabilities.shape[0] == 0:
        raise ValueError("no samples to evaluate: the split is empty")
    probabilities, targets = probabilities.float().cpu(), targets.long().cpu()
    labels = len(class_names)
    support = targets.sum(dim=0)
    present = support > 0
    with warnings.catch_warnings():  # classes without positives are handled below, not warned about
        warnings.simplefilter("ignore", UserWarning)
        per_class = {
            "ap": multilabel_average_precision(probabilities, targets, labels, average=None),
            "f1": multilabel_f1_score(probabilities, targets, labels, threshold=threshold, average=None),
            "precision": multilabel_precision(probabilities, targets, labels, threshold=threshold, average=None),
            "recall": multilabel_recall(probabilities, targets, labels, threshold=threshold, average=None),
        }
        micro = {
            "ap": multilabel_average_precision(probabilities, targets, labels, average="micro"),
            "f1": multilabel_f1_score(probabilities, targets, labels, threshold=threshold, average="micro"),
            "precision": multilabel_precision(probabilities, targets, labels, threshold=threshold, average="micro"),
            "recall": multilabel_recall(probabilities, targets, labels, threshold=threshold, average="micro"),
        }
    per_class = {name: torch.where(present, values, torch.nan) for name, values in per_class.items()}
    macro = {name: float(values[present].mean()) if present.any() else math.nan for name, values in per_class.items()}
    return ClassificationReport(
        class_names=tuple(class_names),
        samples=int(probabilities.shape[0]),
        support=tuple(int(count) for count in support),
        per_class={name: tuple(float(v) for v in values) for name, values in per_class.items()},
        macro=macro,
        micro={name: float(value) for name, value in micro.items()},
        threshold=threshold,
    )


def report_from_dict(payload: dict[str, Any]) -> ClassificationReport:
    """Rebuild a report from :meth:`ClassificationReport.to_dict` output (e.g. a run's ``metrics.json``)."""

    def number(value: float | None) -> float:
        return math.nan if value is None else float(value)

    rows = payload["per_class"]
    return ClassificationReport(
        class_names=tuple(rows),
        samples=int(payload["samples"]),
        support=tuple(int(row["support"]) for row in rows.values()),
        per_class={name: tuple(number(row[name]) for row in rows.values()) for name in METRICS},
        macro={name: number(payload["macro"][name]) for name in METRICS},
        micro={name: number(payload["micro"][name]) for name in METRICS},
        threshold=float(payload["threshold"]),
    )
