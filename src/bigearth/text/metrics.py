"""Scores of predicted answers: accuracy, box IoU scores and caption metrics as coco-caption computes them.

Captions: BLEU-1..4 (corpus level, brevity penalty on the closest reference length, ties to the shorter one),
ROUGE-L (LCS F-measure with beta 1.2 on the best precision and recall over the references, averaged over
captions), CIDEr-D and METEOR 1.5 (with its paraphrase table) through ``pycocoevalcap`` [0], the packaged
coco-caption, after its PTB tokenizer (lower case, punctuation removed). The tokenizer and METEOR are Java
programs: where ``java`` is not on the PATH, captions are tokenised by :func:`tokens` (lower case, every
character but letters, digits, ``%`` and ``-`` replaced by a space) and METEOR comes from ``nltk`` (Banerjee and
Lavie 2005; alpha 0.9, beta 3, gamma 0.5, exact and Porter-stem matching, no synonyms: WordNet would be a
download), and the report says so (:data:`FALLBACK`); BLEU, ROUGE-L and CIDEr-D stay pycocoevalcap's.

Boxes: a predicted set P and a reference set G of one instruction are matched one to one by the Hungarian
algorithm on IoU (scipy's ``linear_sum_assignment``). The row's IoU score is the sum of matched IoUs over
``max(|P|, |G|)`` (missing and extra boxes count 0; two empty sets score 1); its mean over rows is the mIoU. A row
is right at IoU t (Acc@IoU t, t in :data:`IOU_THRESHOLDS`) when ``|P| = |G|`` and every match has IoU >= t; with
one box on each side that is IoU >= t. Box precision and recall at 0.5 count matches over |P| and |G|.

[0] https://github.com/salaniz/pycocoevalcap (from tylin/coco-caption)
"""

import functools
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy.optimize import linear_sum_assignment

from bigearth._optional import require
from bigearth.errors import ConfigError

if TYPE_CHECKING:  # pycocoevalcap is imported on first use
    from pycocoevalcap.meteor.meteor import Meteor

IOU_THRESHOLD = 0.5
#: IoU thresholds of the Acc@IoU scores.
IOU_THRESHOLDS: tuple[float, ...] = (0.25, 0.5, 0.75, 0.9)
_NON_WORD = re.compile(r"[^a-z0-9%\-]+")
CAPTION_METRICS: tuple[str, ...] = ("bleu_1", "bleu_2", "bleu_3", "bleu_4", "rouge_l", "meteor", "cider")
#: How captions were scored, as the report names it.
COCO = "pycocoevalcap (PTB tokenizer, METEOR 1.5)"
FALLBACK = "pycocoevalcap BLEU/ROUGE-L/CIDEr-D without Java: simple tokenizer, NLTK METEOR without synonyms"


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


def java_available() -> bool:
    """Return whether a ``java`` runtime is on the PATH (the PTB tokenizer and METEOR 1.5 need one)."""
    return shutil.which("java") is not None


def _coco_tokens(
    res: dict[int, list[str]], gts: dict[int, list[str]]
) -> tuple[dict[int, list[str]], dict[int, list[str]]]:
    """Tokenise predictions and references with the PTB tokenizer, in one Java run."""
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    captions = {(part, key): [{"caption": c} for c in texts] for part, d in (("res", res), ("gts", gts))
                for key, texts in d.items()}  # fmt: skip
    tokenised = PTBTokenizer().tokenize(captions)
    return {key: tokenised[("res", key)] for key in res}, {key: tokenised[("gts", key)] for key in gts}


@functools.cache
def _meteor() -> "Meteor":
    """Return the METEOR 1.5 process, started once per Python process (loading it takes about a minute)."""
    from pycocoevalcap.meteor.meteor import Meteor

    return Meteor()


def _nltk_meteor(hypotheses: dict[int, list[str]], references: dict[int, list[str]]) -> float:
    from nltk.translate.meteor_score import meteor_score

    no_synonyms = _NoSynonyms()
    return float(np.mean([meteor_score([r.split() for r in references[key]], hypotheses[key][0].split(),
                                       wordnet=no_synonyms) for key in hypotheses]))  # fmt: skip


def caption_scores(
    predictions: Sequence[str], references: Sequence[Sequence[str]], *, java: bool | None = None
) -> tuple[dict[str, float], str]:
    """Return corpus BLEU-1..4, ROUGE-L, METEOR and CIDEr-D of captions, as coco-caption computes them.

    Args:
        predictions: ``(N,)`` predicted captions.
        references: ``(N, R_i)`` reference captions of each prediction (R_i >= 1).
        java: use the Java tokenizer and METEOR; None: where ``java`` is on the PATH.

    Returns:
        ``{"bleu_1", ..., "bleu_4", "rouge_l", "meteor", "cider"}`` (NaN for all where N = 0), and
        :data:`COCO` or :data:`FALLBACK`.

    Raises:
        ConfigError: if the lengths differ or a prediction has no reference.
    """
    java = java_available() if java is None else java
    backend = COCO if java else FALLBACK
    if len(predictions) != len(references):
        raise ConfigError(f"{len(predictions)} predicted captions but {len(references)} reference lists")
    if any(len(refs) == 0 for refs in references):
        raise ConfigError("every predicted caption needs at least one reference caption")
    if not predictions:
        return dict.fromkeys(CAPTION_METRICS, float("nan")), backend
    require("pycocoevalcap", extra="text")
    require("nltk", extra="text")
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge

    res = {i: [str(p)] for i, p in enumerate(predictions)}
    gts = {i: [str(r) for r in refs] for i, refs in enumerate(references)}
    if java:
        res, gts = _coco_tokens(res, gts)
    else:
        res = {i: [" ".join(tokens(c)) for c in texts] for i, texts in res.items()}
        gts = {i: [" ".join(tokens(c)) for c in texts] for i, texts in gts.items()}
    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    scores = {f"bleu_{n}": float(bleu[n - 1]) for n in range(1, 5)}
    scores["rouge_l"] = float(Rouge().compute_score(gts, res)[0])
    scores["cider"] = float(Cider().compute_score(gts, res)[0])
    if java:
        scores["meteor"] = float(_meteor().compute_score(gts, res)[0])
    else:
        scores["meteor"] = _nltk_meteor(res, gts)
    return {key: scores[key] for key in CAPTION_METRICS}, backend
