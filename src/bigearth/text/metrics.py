"""Scores of predicted answers: accuracy, box IoU scores and caption metrics (BLEU, ROUGE-L, METEOR, CIDEr-D).

Libraries, all offline: BLEU and ROUGE-L from ``torchmetrics`` (corpus BLEU-1..4 as Papineni et al. 2002,
without smoothing; ROUGE-L F-measure of Lin 2004, best over the references, averaged over captions); METEOR
from ``nltk`` (Banerjee and Lavie 2005; alpha 0.9, beta 3, gamma 0.5, exact and Porter-stem matching). NLTK
loads WordNet for METEOR's synonym stage, a download this project cannot make at run time; the synonym stage is
switched off through ``meteor_score``'s ``wordnet`` argument, so scores can be slightly lower than with WordNet.
CIDEr-D is :mod:`bigearth.text.cider`.

Captions are tokenised the same way for every metric: lower case, every character but letters, digits,
``%`` and ``-`` replaced by a space, split on spaces (the COCO evaluation's PTB tokenizer needs Java).

Boxes: a predicted set P and a reference set G of one instruction are matched one to one by the Hungarian
algorithm on IoU (scipy's ``linear_sum_assignment``). The row's IoU score is the sum of matched IoUs over
``max(|P|, |G|)`` (missing and extra boxes count 0; two empty sets score 1); a row is right at IoU 0.5 when
``|P| = |G|`` and every match has IoU >= 0.5. Box precision and recall at 0.5 count matches over |P| and |G|.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from bigearth.text.cider import cider_d

IOU_THRESHOLD = 0.5
_NON_WORD = re.compile(r"[^a-z0-9%\-]+")


class _NoSynonyms:
    """Stands in for NLTK's WordNet reader: METEOR's synonym stage finds no synonyms (no download)."""

    def synsets(self, word: str, *args: object, **kwargs: object) -> list:
        return []


def tokens(text: str) -> list[str]:
    """Return the tokens of a caption (see the module docstring)."""
    return _NON_WORD.sub(" ", str(text).lower()).split()


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
        right: whether every box is matched one to one at IoU >= 0.5.
        matches: matches at IoU >= 0.5.
        predicted: |P|.
        truth: |G|.
    """

    iou: float
    right: bool
    matches: int
    predicted: int
    truth: int


def box_score(predicted: Sequence[Sequence[float]], truth: Sequence[Sequence[float]]) -> BoxScore:
    """Score one set of predicted boxes against the reference boxes (see the module docstring)."""
    p, g = np.asarray(predicted, dtype=np.float64).reshape(-1, 4), np.asarray(truth, dtype=np.float64).reshape(-1, 4)
    if len(p) == 0 or len(g) == 0:
        empty = len(p) == len(g)
        return BoxScore(float(empty), empty, 0, len(p), len(g))
    ious = iou_matrix(p, g)
    rows, columns = linear_sum_assignment(ious, maximize=True)
    matched = ious[rows, columns]
    matches = int((matched >= IOU_THRESHOLD).sum())
    return BoxScore(float(matched.sum() / max(len(p), len(g))), len(p) == len(g) == matches, matches, len(p), len(g))


def caption_scores(predictions: Sequence[str], references: Sequence[Sequence[str]]) -> dict[str, float]:
    """Return corpus BLEU-1..4, mean ROUGE-L F, mean METEOR and mean CIDEr-D of captions.

    Args:
        predictions: ``(N,)`` predicted captions.
        references: ``(N, R_i)`` reference captions of each prediction.

    Returns:
        ``{"bleu_1", ..., "bleu_4", "rouge_l", "meteor", "cider"}``; NaN for all where N = 0.
    """
    keys = ("bleu_1", "bleu_2", "bleu_3", "bleu_4", "rouge_l", "meteor", "cider")
    if not predictions:
        return dict.fromkeys(keys, float("nan"))
    from nltk.translate.meteor_score import meteor_score
    from torchmetrics.functional.text import bleu_score, rouge_score

    hyp = [tokens(p) for p in predictions]
    refs = [[tokens(r) for r in rs] for rs in references]
    hyp_text = [" ".join(t) for t in hyp]
    ref_text = [[" ".join(t) for t in rs] for rs in refs]
    scores = {f"bleu_{n}": float(bleu_score(hyp_text, ref_text, n_gram=n)) for n in range(1, 5)}
    rouge = rouge_score(hyp_text, ref_text, rouge_keys="rougeL", accumulate="best")  # mean over captions
    scores["rouge_l"] = float(rouge["rougeL_fmeasure"])
    no_synonyms = _NoSynonyms()
    meteor = [meteor_score(r, h, wordnet=no_synonyms) for h, r in zip(hyp, refs, strict=True)]
    scores["meteor"] = float(np.mean(meteor))
    scores["cider"] = float(np.mean(cider_d(hyp, refs)))
    return scores
