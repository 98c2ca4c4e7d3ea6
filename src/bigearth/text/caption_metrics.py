"""Caption metrics as coco-caption computes them, gathered batch by batch for corpora of any size.

BLEU-1..4 (corpus level, brevity penalty on the closest reference length, ties to the shorter one), ROUGE-L (LCS
F-measure with beta 1.2 on the best precision and recall over the references, averaged over captions), CIDEr-D
and METEOR 1.5 (with its paraphrase table), with the numbers of ``pycocoevalcap`` [0] (the packaged coco-caption)
after its PTB tokenizer (lower case, punctuation removed). The tokenizer and METEOR are Java programs: where
``java`` is not on the PATH, captions are tokenised by :func:`tokens` (lower case, every character but letters,
digits, ``%`` and ``-`` replaced by a space) and METEOR comes from ``nltk`` (Banerjee and Lavie 2005; alpha 0.9,
beta 3, gamma 0.5, exact and Porter-stem matching, no synonyms: WordNet would be a download), and the report says
so (:data:`FALLBACK`).

pycocoevalcap's scorers take every caption at once and hold n-gram dictionaries of all of them (above 10 GB for
the 0.46 M captions of the BigEarthNet.txt release). :class:`CaptionCorpus` keeps what the corpus scores need and
computes the rest chunk by chunk, with pycocoevalcap's own per-caption code where it has one:

* captions are tokenised batch by batch as they arrive (the PTB tokenizer reads one caption per line,
  ``-preserveLines``, so chunks tokenise as one run does) and kept as Arrow strings;
* BLEU: per caption, pycocoevalcap's ``cook_refs`` / ``cook_test`` (``bleu/bleu_scorer.py``), summed into the
  corpus totals (test and closest reference lengths, clipped matches and n-gram counts, all integers), then the
  corpus formula of ``BleuScorer.compute_score``;
* ROUGE-L: pycocoevalcap's ``Rouge.calc_score`` per caption, averaged at the end;
* CIDEr-D: the document frequency of an n-gram is the number of scored captions whose references hold it
  (``cider/cider_scorer.py``, ``compute_doc_freq``): it is counted over the references of each patch once,
  weighted by the patch's number of predictions, and kept as sorted integer n-gram codes with their counts
  (16 bytes per distinct n-gram); the per-caption tf-idf cosine with the Gaussian length penalty then follows
  ``compute_cider`` step by step, chunk by chunk;
* METEOR 1.5: pycocoevalcap's per-caption ``SCORE`` statistics are collected chunk by chunk and sent in one
  ``EVAL`` line at the end, as ``Meteor.compute_score`` does.

Every figure therefore equals pycocoevalcap's on the same captions (``tests/test_text_metrics.py`` checks it
against a one-shot pycocoevalcap run).

[0] https://github.com/salaniz/pycocoevalcap (from tylin/coco-caption)
"""

import functools
import math
import re
import shutil
import threading
from collections import defaultdict
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from bigearth._optional import require
from bigearth.errors import ConfigError

if TYPE_CHECKING:  # pycocoevalcap is imported on first use
    from pycocoevalcap.meteor.meteor import Meteor

_NON_WORD = re.compile(r"[^a-z0-9%\-]+")
CAPTION_METRICS: tuple[str, ...] = ("bleu_1", "bleu_2", "bleu_3", "bleu_4", "rouge_l", "meteor", "cider")
#: How captions were scored, as the report names it.
COCO = "pycocoevalcap (PTB tokenizer, METEOR 1.5)"
FALLBACK = "pycocoevalcap BLEU/ROUGE-L/CIDEr-D without Java: simple tokenizer, NLTK METEOR without synonyms"
#: n-grams of 1..4 words (BLEU-4, CIDEr-D).
ORDER = 4
#: Standard deviation of CIDEr-D's Gaussian length penalty (pycocoevalcap's default).
CIDER_SIGMA = 6.0
#: Captions scored per chunk.
CHUNK = 10_000


class _NoSynonyms:
    """Stands in for NLTK's WordNet reader: METEOR's synonym stage finds no synonyms (no download)."""

    def synsets(self, word: str, *args: object, **kwargs: object) -> list:
        return []


def tokens(text: str) -> list[str]:
    """Return the tokens of a caption without Java (see the module docstring)."""
    return _NON_WORD.sub(" ", str(text).lower()).split()


def java_available() -> bool:
    """Return whether a ``java`` runtime is on the PATH (the PTB tokenizer and METEOR 1.5 need one)."""
    return shutil.which("java") is not None


@functools.cache
def _meteor() -> "Meteor":
    """Return the METEOR 1.5 process, started once per Python process (loading it takes about a minute)."""
    from pycocoevalcap.meteor.meteor import Meteor

    return Meteor()


def _tokenise(captions: list[str], java: bool) -> list[str]:
    """Return the captions tokenised (PTB tokenizer with Java, else :func:`tokens`), words joined by spaces."""
    if not java:
        return [" ".join(tokens(c)) for c in captions]
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    tokenised = PTBTokenizer().tokenize({0: [{"caption": str(c)} for c in captions]}).get(0, [])
    if len(tokenised) != len(captions):
        raise ConfigError(f"the PTB tokenizer returned {len(tokenised)} lines for {len(captions)} captions")
    return tokenised


class _DocumentFrequency:
    """CIDEr-D's document frequencies as sorted integer codes of n-grams.

    An n-gram of word IDs ``w_1..w_k`` (1..V, in order of first appearance in the references) is coded
    ``sum_i w_i * (V + 1)^(k - i)``: codes of different lengths fall in disjoint ranges ``[(V + 1)^(k - 1),
    (V + 1)^k)``. Codes are ``uint64`` while ``(V + 1)^4`` fits, Python integers beyond.

    Args:
        references: ``(R,)`` tokenised reference captions, grouped by patch.
        starts: ``(P + 1,)`` the references of patch p are ``references[starts[p]:starts[p + 1]]``.
        weights: ``(P,)`` predictions per patch (each counts its patch's n-grams once).
    """

    def __init__(self, references: list[str], starts: np.ndarray, weights: np.ndarray) -> None:
        self.vocabulary: dict[str, int] = {}
        for reference in references:
            for word in reference.split():
                self.vocabulary.setdefault(word, len(self.vocabulary) + 1)
        self.base = len(self.vocabulary) + 1
        self.dtype = np.dtype(np.uint64) if self.base**ORDER < 2**64 else np.dtype(object)
        self.codes = np.zeros(0, self.dtype)
        self.counts = np.zeros(0, np.float64)
        used = np.flatnonzero(weights)
        for first in range(0, len(used), CHUNK):
            patches = used[first : first + CHUNK]
            sentences = [references[r] for p in patches for r in range(starts[p], starts[p + 1])]
            sentence, codes = self._occurrences(sentences)
            patch = np.repeat(patches, starts[patches + 1] - starts[patches])[sentence]
            order = np.lexsort((codes, patch))
            patch, codes = patch[order], codes[order]
            first_seen = np.ones(len(codes), dtype=bool)  # each n-gram once per patch
            first_seen[1:] = (patch[1:] != patch[:-1]) | (codes[1:] != codes[:-1])
            self._add(codes[first_seen], weights[patch[first_seen]])

    def _occurrences(self, sentences: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Return the sentence index and code of every 1..4-gram occurrence, ``(M,)`` each."""
        ids = [[self.vocabulary[w] for w in s.split()] for s in sentences]
        lengths = np.array([len(s) for s in ids], dtype=np.int64)
        flat = np.array([w for s in ids for w in s], dtype=self.dtype)
        sentence = np.repeat(np.arange(len(ids)), lengths)
        end = np.repeat(np.cumsum(lengths), lengths)  # each word's sentence ends before this position
        start = np.arange(len(flat))
        padded = np.concatenate([flat, np.zeros(ORDER, self.dtype)])
        code = np.zeros(len(flat), self.dtype)
        found_sentences, found_codes = [], []
        for k in range(1, ORDER + 1):
            with np.errstate(over="ignore"):  # codes of n-grams past a sentence's end wrap; they are left out
                code = code * self.base + padded[k - 1 : k - 1 + len(flat)]
            inside = start + k <= end
            found_sentences.append(sentence[inside])
            found_codes.append(code[inside])
        return np.concatenate(found_sentences), np.concatenate(found_codes)

    def _add(self, codes: np.ndarray, weights: np.ndarray) -> None:
        merged, inverse = np.unique(np.concatenate([self.codes, codes]), return_inverse=True)
        self.counts = np.bincount(inverse, weights=np.concatenate([self.counts, weights]), minlength=len(merged))
        self.codes = merged

    def lookup(self, grams: Iterable[tuple[str, ...]]) -> dict[tuple[str, ...], float]:
        """Return the document frequency of each n-gram that one at least of the references holds."""
        known, codes = [], []
        for gram in grams:
            code = 0
            for word in gram:
                index = self.vocabulary.get(word)
                if index is None:
                    break
                code = code * self.base + index
            else:
                known.append(gram)
                codes.append(code)
        values = np.array(codes, dtype=self.dtype)
        where = np.minimum(np.searchsorted(self.codes, values), max(len(self.codes) - 1, 0))
        found = self.codes[where] == values if len(self.codes) else np.zeros(len(values), dtype=bool)
        return {gram: float(self.counts[i]) for gram, i, hit in zip(known, where, found, strict=True) if hit}


def _tf_idf(
    counts: dict[tuple[str, ...], int], frequency: dict[tuple[str, ...], float], log_n: float
) -> tuple[list[defaultdict], list[float], int]:
    """Return the tf-idf vectors per n-gram length, their norms and the length (``counts2vec`` of cider_scorer.py).

    The length counts the bigrams, as the reference code does (``if n == 1``).
    """
    vector: list[defaultdict] = [defaultdict(float) for _ in range(ORDER)]
    norm = [0.0] * ORDER
    length = 0
    for gram, term_frequency in counts.items():
        n = len(gram) - 1
        vector[n][gram] = float(term_frequency) * (log_n - np.log(max(1.0, frequency.get(gram, 0.0))))
        norm[n] += pow(vector[n][gram], 2)
        if n == 1:
            length += term_frequency
    return vector, [np.sqrt(value) for value in norm], length


def _similarity(
    hypothesis: tuple[list[defaultdict], list[float], int], reference: tuple[list[defaultdict], list[float], int]
) -> np.ndarray:
    """Return the ``(4,)`` clipped cosines with the Gaussian length penalty (``sim`` of cider_scorer.py)."""
    (vec_hyp, norm_hyp, length_hyp), (vec_ref, norm_ref, length_ref) = hypothesis, reference
    delta = float(length_hyp - length_ref)
    value = np.zeros(ORDER)
    for n in range(ORDER):
        for gram in vec_hyp[n]:
            value[n] += min(vec_hyp[n][gram], vec_ref[n][gram]) * vec_ref[n][gram]
        if norm_hyp[n] != 0 and norm_ref[n] != 0:
            value[n] /= norm_hyp[n] * norm_ref[n]
        value[n] *= np.e ** (-(delta**2) / (2 * CIDER_SIGMA**2))
    return value


def _cider_d(
    hypothesis: dict[tuple[str, ...], int],
    references: list[dict[tuple[str, ...], int]],
    frequency: dict[tuple[str, ...], float],
    log_n: float,
) -> float:
    """Return one caption's CIDEr-D (``compute_cider`` of cider_scorer.py): 10 x the mean over n and references."""
    vector = _tf_idf(hypothesis, frequency, log_n)
    score = np.zeros(ORDER)
    for reference in references:
        score += _similarity(vector, _tf_idf(reference, frequency, log_n))
    return float(np.mean(score) / len(references) * 10.0)


def _bleu(testlen: int, reflen: int, guess: list[int], correct: list[int]) -> list[float]:
    """Return corpus BLEU-1..4 from the summed statistics (``BleuScorer.compute_score`` of bleu_scorer.py)."""
    small, tiny = 1e-9, 1e-15  # as the reference code: a zero count gives 0, not a division by zero
    bleus, bleu = [], 1.0
    for k in range(ORDER):
        bleu *= float(correct[k] + tiny) / (guess[k] + small)
        bleus.append(bleu ** (1.0 / (k + 1)))
    ratio = (testlen + tiny) / (reflen + small)
    if ratio < 1:
        bleus = [value * math.exp(1 - 1 / ratio) for value in bleus]
    return bleus


def _meteor_statistics(hypotheses: list[str], groups: list[list[str]]) -> list[str]:
    """Return METEOR 1.5's ``SCORE`` statistics of each caption (the lines of ``Meteor._stat``).

    The lines are written by a thread while the answers are read, instead of one round trip per caption.
    """
    meteor = _meteor()
    lines = [
        " ||| ".join(("SCORE", " ||| ".join(refs), hypothesis.replace("|||", "").replace("  ", " "))) + "\n"
        for hypothesis, refs in zip(hypotheses, groups, strict=True)
    ]

    def write() -> None:
        meteor.meteor_p.stdin.write("".join(lines).encode())
        meteor.meteor_p.stdin.flush()

    with meteor.lock:
        writer = threading.Thread(target=write)
        writer.start()
        statistics = [meteor.meteor_p.stdout.readline().decode().strip() for _ in lines]
        writer.join()
    return statistics


def _meteor_corpus(statistics: list[str]) -> float:
    """Return METEOR 1.5 of the corpus from the per-caption statistics (the ``EVAL`` of ``Meteor.compute_score``)."""
    meteor = _meteor()
    with meteor.lock:
        meteor.meteor_p.stdin.write(("EVAL ||| " + " ||| ".join(statistics) + "\n").encode())
        meteor.meteor_p.stdin.flush()
        for _ in statistics:  # the per-caption scores come first
            meteor.meteor_p.stdout.readline()
        return float(meteor.meteor_p.stdout.readline().strip())


def _nltk_meteor(hypothesis: str, references: list[str]) -> float:
    from nltk.translate.meteor_score import meteor_score

    return float(meteor_score([r.split() for r in references], hypothesis.split(), wordnet=_NoSynonyms()))


class CaptionCorpus:
    """Predicted and reference captions gathered batch by batch, scored as pycocoevalcap scores them.

    Each prediction is scored against every reference caption with its key (in BigEarthNet.txt: its patch), in
    the order they were added. See the module docstring for what is kept.

    Args:
        java: use the PTB tokenizer and METEOR 1.5; None: where ``java`` is on the PATH.
        chunk: captions scored at a time.
    """

    def __init__(self, *, java: bool | None = None, chunk: int = CHUNK) -> None:
        require("pycocoevalcap", extra="text")
        require("nltk", extra="text")
        self.java = java_available() if java is None else java
        self.backend = COCO if self.java else FALLBACK
        self.chunk = chunk
        self._keys: dict[str, list[pa.Array]] = {"references": [], "predictions": []}
        self._texts: dict[str, list[pa.Array]] = {"references": [], "predictions": []}

    def __len__(self) -> int:
        """Return the number of predictions added."""
        return sum(len(keys) for keys in self._keys["predictions"])

    def add(
        self,
        reference_keys: Sequence[str],
        references: Sequence[str],
        prediction_keys: Sequence[str],
        predictions: Sequence[str],
    ) -> None:
        """Tokenise and keep one batch of ``(R,)`` reference and ``(N,)`` predicted captions with their keys.

        Raises:
            ConfigError: if a key list and its captions differ in length.
        """
        if len(reference_keys) != len(references) or len(prediction_keys) != len(predictions):
            raise ConfigError(
                f"{len(reference_keys)} reference keys for {len(references)} references and {len(prediction_keys)} "
                f"prediction keys for {len(predictions)} predictions; give one key per caption"
            )
        if not len(references) + len(predictions):
            return
        tokenised = _tokenise([*references, *predictions], self.java)
        for part, keys, texts in (("references", reference_keys, tokenised[: len(references)]),
                                  ("predictions", prediction_keys, tokenised[len(references) :])):  # fmt: skip
            self._keys[part].append(pa.array(list(keys), pa.string()))
            self._texts[part].append(pa.array(texts, pa.string()))

    def scores(self) -> tuple[dict[str, float], str]:
        """Return corpus BLEU-1..4, ROUGE-L, METEOR and CIDEr-D, and how captions were scored.

        Returns:
            ``{"bleu_1", ..., "bleu_4", "rouge_l", "meteor", "cider"}`` (NaN for all without predictions), and
            :data:`COCO` or :data:`FALLBACK`.

        Raises:
            ConfigError: if a prediction's key has no reference caption.
        """
        count = len(self)
        if count == 0:
            return dict.fromkeys(CAPTION_METRICS, float("nan")), self.backend
        from pycocoevalcap.bleu.bleu_scorer import cook_refs, cook_test
        from pycocoevalcap.cider.cider_scorer import precook
        from pycocoevalcap.rouge.rouge import Rouge

        reference_keys = pa.chunked_array(self._keys["references"], pa.string())
        patches = pc.unique(reference_keys)
        patch_of_reference = pc.index_in(reference_keys, value_set=patches).to_numpy()
        patch_of = pc.index_in(pa.chunked_array(self._keys["predictions"], pa.string()), value_set=patches)
        if patch_of.null_count:
            missing = pa.chunked_array(self._keys["predictions"]).filter(pc.is_null(patch_of))[0]
            raise ConfigError(f"{patch_of.null_count} predicted caption(s) have no reference caption, e.g. {missing}")
        patch_of = patch_of.to_numpy()
        order = np.argsort(patch_of_reference, kind="stable")
        references = pa.chunked_array(self._texts["references"], pa.string()).take(order).to_pylist()
        starts = np.searchsorted(patch_of_reference[order], np.arange(len(patches) + 1))
        frequency = _DocumentFrequency(references, starts, np.bincount(patch_of, minlength=len(patches)))
        log_n = np.log(float(count))
        predictions = pa.chunked_array(self._texts["predictions"], pa.string())
        rouge = Rouge()
        testlen = reflen = 0
        guess, correct = [0] * ORDER, [0] * ORDER
        per_caption = {name: np.zeros(count) for name in ("rouge_l", "cider", "meteor")}
        statistics: list[str] = []
        with ThreadPoolExecutor(1) as java:  # METEOR works in Java while Python scores the rest
            for first in range(0, count, self.chunk):
                hypotheses = predictions.slice(first, self.chunk).to_pylist()
                groups = [references[starts[p] : starts[p + 1]] for p in patch_of[first : first + self.chunk]]
                meteor = java.submit(_meteor_statistics, hypotheses, groups) if self.java else None
                test_counts = [precook(h) for h in hypotheses]
                reference_counts = [[precook(r) for r in refs] for refs in groups]
                grams = {g for counts in [*test_counts, *(c for cs in reference_counts for c in cs)] for g in counts}
                known = frequency.lookup(grams)
                for i, (hypothesis, refs) in enumerate(zip(hypotheses, groups, strict=True)):
                    cooked = cook_test(hypothesis, cook_refs(refs))
                    testlen += cooked["testlen"]
                    reflen += min((abs(length - cooked["testlen"]), length) for length in cooked["reflen"])[1]
                    guess = [total + value for total, value in zip(guess, cooked["guess"], strict=True)]
                    correct = [total + value for total, value in zip(correct, cooked["correct"], strict=True)]
                    per_caption["rouge_l"][first + i] = rouge.calc_score([hypothesis], refs)
                    per_caption["cider"][first + i] = _cider_d(test_counts[i], reference_counts[i], known, log_n)
                    if meteor is None:
                        per_caption["meteor"][first + i] = _nltk_meteor(hypothesis, refs)
                if meteor is not None:
                    statistics += meteor.result()
        scores = {f"bleu_{n + 1}": float(value) for n, value in enumerate(_bleu(testlen, reflen, guess, correct))}
        scores |= {name: float(np.mean(values)) for name, values in per_caption.items()}
        if self.java:
            scores["meteor"] = _meteor_corpus(statistics)
        return {key: scores[key] for key in CAPTION_METRICS}, self.backend


def caption_scores(
    predictions: Sequence[str], references: Sequence[Sequence[str]], *, java: bool | None = None
) -> tuple[dict[str, float], str]:
    """Return corpus BLEU-1..4, ROUGE-L, METEOR and CIDEr-D of captions held in memory (:class:`CaptionCorpus`).

    Args:
        predictions: ``(N,)`` predicted captions.
        references: ``(N, R_i)`` reference captions of each prediction (R_i >= 1).
        java: use the Java tokenizer and METEOR; None: where ``java`` is on the PATH.

    Returns:
        As :meth:`CaptionCorpus.scores`.

    Raises:
        ConfigError: if the lengths differ or a prediction has no reference.
    """
    if len(predictions) != len(references):
        raise ConfigError(f"{len(predictions)} predicted captions but {len(references)} reference lists")
    if any(len(refs) == 0 for refs in references):
        raise ConfigError("every predicted caption needs at least one reference caption")
    corpus = CaptionCorpus(java=java)
    keys = [str(i) for i in range(len(predictions))]
    corpus.add([key for key, refs in zip(keys, references, strict=True) for _ in refs],
               [str(r) for refs in references for r in refs], keys, [str(p) for p in predictions])  # fmt: skip
    return corpus.scores()
