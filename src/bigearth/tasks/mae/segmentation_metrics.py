"""Semantic segmentation metrics from a confusion matrix of pixels, unlabelled pixels (255) ignored.

Definitions, over all labelled pixels of a split (``TP_c``, ``FP_c``, ``FN_c`` counted per class c):

* **IoU** of class c: ``TP_c / (TP_c + FP_c + FN_c)``.
* **mIoU**: the mean IoU over the classes **present** in the split's reference maps (at least one labelled pixel),
  as the classification metrics average over present classes; the report names the absent classes.
* **pixel accuracy**: correctly classified labelled pixels over all labelled pixels.

Pixels whose reference value is 255 (CLC codes outside the 19 classes, or no CLC polygon) count nowhere.
"""

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from bigearth.nomenclature import IGNORE_INDEX

DEFINITIONS = {
    "iou": "TP / (TP + FP + FN) per class over the split's labelled pixels",
    "miou": "mean IoU over the classes present in the split's reference maps",
    "pixel_accuracy": "correct labelled pixels over all labelled pixels",
    "ignored": f"pixels labelled {IGNORE_INDEX} (unlabelled) are left out of every count",
}


@dataclass(frozen=True)
class SegmentationReport:
    """Metrics of one split."""

    class_names: tuple[str, ...]
    iou: tuple[float, ...]
    support: tuple[int, ...]
    miou: float
    pixel_accuracy: float

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (NaN becomes None)."""
        return {
            "miou": round(self.miou, 6),
            "pixel_accuracy": round(self.pixel_accuracy, 6),
            "per_class": {name: {"pixels": count, "iou": None if math.isnan(value) else round(value, 6)}
                          for name, value, count in zip(self.class_names, self.iou, self.support, strict=True)},
            "absent_classes": [name for name, count in zip(self.class_names, self.support, strict=True) if not count],
            "definitions": DEFINITIONS,
        }  # fmt: skip


def segmentation_report(confusion: Tensor, class_names: tuple[str, ...]) -> SegmentationReport:
    """Compute IoU per class, mIoU over present classes and pixel accuracy.

    Args:
        confusion: ``(C, C)`` pixel counts, rows = reference class, columns = predicted class.
        class_names: the C class names.

    Raises:
        ValueError: if the matrix is not C x C or counts no pixel.
    """
    if confusion.shape != (len(class_names), len(class_names)):
        raise ValueError(f"confusion matrix {tuple(confusion.shape)} must be ({len(class_names)}, {len(class_names)})")
    confusion = confusion.double().cpu()
    if not confusion.sum():
        raise ValueError("no labelled pixel to evaluate")
    true_positive = confusion.diagonal()
    support = confusion.sum(dim=1)
    union = support + confusion.sum(dim=0) - true_positive
    present = support > 0
    iou = torch.where(present, true_positive / union.clamp_min(1), torch.nan)
    return SegmentationReport(
        class_names=tuple(class_names),
        iou=tuple(float(value) for value in iou),
        support=tuple(int(value) for value in support),
        miou=float(iou[present].mean()),
        pixel_accuracy=float(true_positive.sum() / confusion.sum()),
    )
