"""Scores of predicted boxes: IoU matching and Acc@IoU (caption metrics: :mod:`bigearth.text.caption_metrics`).

A predicted set P and a reference set G of one instruction are matched one to one by the Hungarian algorithm on IoU
(scipy's ``linear_sum_assignment``). The row's IoU score is the sum of matched IoUs over ``max(|P|, |G|)`` (missing
and extra boxes count 0; two empty sets score 1); its mean over rows is the mIoU. A row is right at IoU t (Acc@IoU
t, t in :data:`IOU_THRESHOLDS`) when ``|P| = |G|`` and every match has IoU >= t; with one box on each side that is
IoU >= t. Box precision and recall at 0.5 count matches over |P| and |G|.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

IOU_THRESHOLD = 0.5
#: IoU thresholds of the Acc@IoU scores.
IOU_THRESHOLDS: tuple[float, ...] = (0.25, 0.5, 0.75, 0.9)


def iou_matrix(predicted: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Return the ``(P, G)`` IoU of ``(P, 4)`` and ``(G, 4)`` boxes ``[x_min, y_min, x_max, y_max]``."""
    x0 = np.maximum(predicted[:, None, 0], truth[None, :, 0])
    y0 = np.maximum(predicted[:, None, 1], truth[None, :, 1])
    x1 = np.minimum(predicted[:, None, 2], truth[None, :, 2])
    y1 = np.minimum(predicted[:, None, 3], truth[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area_p = (predicted[:, 2] - predicted[:, 0]) * (predicted[:, 3] - predicted[:, 1])
    area_t = (truth[:, 2] - truth[:, 0]) * (truth[:, 3] - truth[:, 1])
    union = area_p[:, None] + area_t[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


@dataclass(frozen=True)
class BoxScore:
    """Box scores of one detection answer.

    Attributes:
        iou: matched IoU sum over ``max(|P|, |G|)``, 0..1.
        matched: the IoUs of the ``min(|P|, |G|)`` matched pairs.
        predicted: |P|.
        truth: |G|.
    """

    iou: float
    matched: tuple[float, ...]
    predicted: int
    truth: int

    def matches(self, threshold: float = IOU_THRESHOLD) -> int:
        """Return the number of matches with IoU >= ``threshold``."""
        return sum(value >= threshold for value in self.matched)

    def right(self, threshold: float = IOU_THRESHOLD) -> bool:
        """Return whether every box is matched one to one at IoU >= ``threshold`` (two empty sets are right)."""
        return self.predicted == self.truth == self.matches(threshold)


def box_score(predicted: Sequence[Sequence[float]], truth: Sequence[Sequence[float]]) -> BoxScore:
    """Score one set of predicted boxes against the reference boxes (see the module docstring)."""
    p, g = np.asarray(predicted, dtype=np.float64).reshape(-1, 4), np.asarray(truth, dtype=np.float64).reshape(-1, 4)
    if len(p) == 0 or len(g) == 0:
        return BoxScore(float(len(p) == len(g)), (), len(p), len(g))
    ious = iou_matrix(p, g)
    rows, columns = linear_sum_assignment(ious, maximize=True)
    matched = ious[rows, columns]
    return BoxScore(float(matched.sum() / max(len(p), len(g))), tuple(matched.tolist()), len(p), len(g))
