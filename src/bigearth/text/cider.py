"""CIDEr-D, the consensus-based caption metric, implemented from its published formula.

Vedantam, Zitnick and Parikh, "CIDEr: Consensus-based Image Description Evaluation", CVPR 2015 [0]; the "-D"
variant as in the reference implementation of the COCO caption evaluation (``pycocoevalcap/cider``) [1].

Why by hand: the only packaged implementation, ``pycocoevalcap``, is a 100 MB wheel that bundles Java
programs (its tokenizer, METEOR and SPICE need a Java runtime); no other well-kept offline package computes
CIDEr. The formula is short; ``tests/test_text_metrics.py`` checks it against values of the reference
implementation [1].

For n-grams of length n = 1..4 of a candidate c and each reference r of an image:
``g(x) = tf(x) * (log(I) - log(max(1, df(x))))`` with I images and df the number of images whose references
hold the n-gram; ``CIDEr_n = sum_r <min(g(c), g(r)), g(r)> / (|g(c)| |g(r)|) * exp(-(l_c - l_r)^2 / (2 sigma^2))``
with sigma = 6 (the clipped product and the Gaussian length penalty make it CIDEr-D); the score is
``10 * mean_n(CIDEr_n) / |references|``, averaged over images. As in [1], the lengths l are the numbers of
bigrams (one less than the words of a sentence of two or more words).

[0] https://arxiv.org/abs/1411.5726
[1] https://github.com/tylin/coco-caption/blob/master/pycocoevalcap/cider/cider_scorer.py
"""

import math
from collections import Counter
from collections.abc import Sequence

from bigearth.errors import ConfigError

MAX_N = 4
SIGMA = 6.0

Ngrams = Counter[tuple[str, ...]]


def ngrams(tokens: Sequence[str], n: int = MAX_N) -> Ngrams:
    """Return the counts of all 1..n-grams of a token list."""
    return Counter(tuple(tokens[i : i + k]) for k in range(1, n + 1) for i in range(len(tokens) - k + 1))


def _vector(counts: Ngrams, df: Counter, log_images: float) -> tuple[list[dict], list[float], int]:
    """Return the tf-idf vectors per n, their norms, and the length (number of bigrams)."""
    vectors: list[dict] = [{} for _ in range(MAX_N)]
    norms = [0.0] * MAX_N
    length = 0
    for gram, tf in counts.items():
        n = len(gram) - 1
        weight = tf * (log_images - math.log(max(1.0, df[gram])))
        vectors[n][gram] = weight
        norms[n] += weight * weight
        if n == 1:
            length += tf
    return vectors, [math.sqrt(v) for v in norms], length


def cider_d(candidates: Sequence[Sequence[str]], references: Sequence[Sequence[Sequence[str]]]) -> list[float]:
    """Return the CIDEr-D score of each candidate.

    Args:
        candidates: ``(N,)`` tokenised candidate captions, one per image.
        references: ``(N, R_i)`` tokenised reference captions of each image (R_i >= 1).

    Returns:
        ``(N,)`` scores (0 and up; 10 is a perfect match of every reference); their mean is the corpus score.

    Raises:
        ConfigError: if the lengths differ or an image has no reference.
    """
    if len(candidates) != len(references):
        raise ConfigError(
            f"CIDEr needs one candidate per image: {len(candidates)} candidates, {len(references)} images"
        )
    if any(len(refs) == 0 for refs in references):
        raise ConfigError("CIDEr needs at least one reference caption per image")
    reference_counts = [[ngrams(r) for r in refs] for refs in references]
    df: Counter = Counter()
    for counts in reference_counts:
        df.update({gram for c in counts for gram in c})
    log_images = math.log(float(len(candidates)))
    scores = []
    for candidate, counts in zip(candidates, reference_counts, strict=True):
        vec, norm, length = _vector(ngrams(candidate), df, log_images)
        total = [0.0] * MAX_N
        for reference in counts:
            ref_vec, ref_norm, ref_length = _vector(reference, df, log_images)
            penalty = math.exp(-((length - ref_length) ** 2) / (2 * SIGMA**2))
            for n in range(MAX_N):
                dot = sum(min(w, ref_vec[n].get(g, 0.0)) * ref_vec[n].get(g, 0.0) for g, w in vec[n].items())
                if norm[n] != 0 and ref_norm[n] != 0:
                    total[n] += dot / (norm[n] * ref_norm[n]) * penalty
        scores.append(10.0 * sum(total) / MAX_N / len(counts))
    return scores
