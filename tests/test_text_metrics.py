"""Answer parsing and metrics: IoU scores by hand; BLEU, ROUGE-L, METEOR and CIDEr-D against values computed by
hand with coco-caption's formulas (and CIDEr-D against the reference implementation's output)."""

import math
import shutil

import numpy as np
import pytest

from bigearth.errors import ConfigError, CorruptDataError
from bigearth.text.answers import options_of, parse_binary, parse_boxes, parse_choice
from bigearth.text.caption_metrics import COCO, FALLBACK, CaptionCorpus, caption_scores, tokens
from bigearth.text.metrics import box_score, iou_matrix

needs_java = pytest.mark.skipif(shutil.which("java") is None, reason="the PTB tokenizer and METEOR 1.5 need Java")


@pytest.mark.parametrize(
    ("answer", "parsed"),
    [("yes", "yes"), ("Yes.", "yes"), (" YES, there is", "yes"), ("true", "yes"), ("No", "no"), ("n", "no"),
     ("no!", "no"), ("maybe", None), ("", None), ("nope", None)],
)  # fmt: skip
def test_parse_binary(answer: str, parsed: str | None) -> None:
    assert parse_binary(answer) == parsed


def test_parse_choice() -> None:
    question = "Which class covers the largest area?\na) Arable land\nb) Pastures\nc) Mixed forest\nd) Urban fabric"
    options = options_of(question)
    assert options == ["Arable land", "Pastures", "Mixed forest", "Urban fabric"]
    for answer, letter in [("b", "b"), ("B)", "b"), ("(c)", "c"), ("d. Urban fabric", "d"), ("The answer is a", "a"),
                           ("answer: c", "c"), ("pastures", "b"), ("Mixed forest.", "c"), ("e", None),
                           ("forest", None)]:  # fmt: skip
        assert parse_choice(answer, options) == letter, answer


def test_parse_boxes() -> None:
    assert parse_boxes("[[0, 0.1, 0.5, 1]]", "r") == [[0.0, 0.1, 0.5, 1.0]]
    assert parse_boxes("[0, 0.1, 0.5, 1]", "r") == [[0.0, 0.1, 0.5, 1.0]]  # one box without the outer list
    assert parse_boxes("[]", "r") == []
    for bad, message in [("[[0, 0, 1]]", "not 4 finite numbers"), ("[[0.5, 0, 0.2, 1]]", "not ordered"),
                         ("[[0, 0, 1.5, 1]]", "within 0..1"), ("boxes!", "neither JSON"), ('{"a": 1}', "no list"),
                         ('[["a", 0, 1, 1]]', "not 4 finite")]:  # fmt: skip
        with pytest.raises(CorruptDataError, match=rf"prediction row-7: .*{message}"):
            parse_boxes(bad, "row-7")


def test_parse_released_box_forms() -> None:
    assert parse_boxes("[0.1 0.2, 0.5 0.6]", "r") == [[0.1, 0.2, 0.5, 0.6]]
    tagged = "<ref>arable land</ref><box>[0.1 0.2, 0.5 0.6]</box> and <box>[0 0, 1 1]</box>"
    assert parse_boxes(tagged, "r") == [[0.1, 0.2, 0.5, 0.6], [0.0, 0.0, 1.0, 1.0]]
    assert parse_boxes("<point>(0.3, 0.4)</point>", "r") == [[0.3, 0.4, 0.3, 0.4]]  # a point: a zero-size box
    for bad in ("", "forest [0 0, 1 1]", "(0.1, 0.2, 0.3)", "[0.6 0, 0.2 1]"):
        with pytest.raises(CorruptDataError, match="reference output row-2"):
            parse_boxes(bad, "row-2", what="reference output")


def test_box_scores_by_hand() -> None:
    a, b = [0.0, 0.0, 0.5, 0.5], [0.25, 0.0, 0.75, 0.5]
    np.testing.assert_allclose(iou_matrix(np.array([a]), np.array([b])), [[0.125 / 0.375]])
    perfect = box_score([a, b], [b, a])
    assert (perfect.iou, perfect.right(0.9), perfect.matches(0.9)) == (1.0, True, 2)
    shifted = box_score([b], [a])  # IoU 1/3: right at 0.25, wrong at 0.5
    assert shifted.iou == pytest.approx(1 / 3)
    assert [shifted.right(t) for t in (0.25, 0.5, 0.75, 0.9)] == [True, False, False, False]
    close = box_score([[0.0, 0.0, 0.5, 0.45]], [a])  # IoU 0.9: right at every threshold up to 0.9
    assert close.iou == pytest.approx(0.9)
    assert close.right(0.9)
    extra = box_score([a, [0.6, 0.6, 1.0, 1.0]], [a])  # one extra box halves the score
    assert extra.iou == pytest.approx(0.5)
    assert not extra.right(0.25)
    assert box_score([], []).right()
    assert box_score([], [a]).iou == 0.0


# Values of the COCO caption reference implementation (tylin/coco-caption, pycocoevalcap/cider/cider_scorer.py,
# run under Python 3 with xrange/iteritems replaced) on these four images.
CANDIDATES = [
    "arable land covers most of the image with some pastures",
    "a forest of coniferous trees next to a lake",
    "the image shows urban fabric and industrial units",
    "pastures and arable land in the west of the patch",
]
REFERENCES = [
    ["arable land covers 62% of the image and pastures 30%", "this image shows arable land and pastures"],
    ["coniferous forest lies in the north and borders inland waters",
     "the patch contains coniferous forest and inland waters"],
    ["urban fabric covers 40% and industrial or commercial units 20%",
     "this image shows urban fabric and industrial or commercial units", "a town with industry"],
    ["arable land lies in the west and pastures in the east", "the patch contains arable land and pastures"],
]  # fmt: skip
REFERENCE_CIDER = [1.8857583440818002, 0.639385725354688, 2.733016066467218, 1.9500877163307997]


def test_cider_d_matches_the_reference_implementation() -> None:
    scores, _ = caption_scores(CANDIDATES, REFERENCES, java=False)  # the simple tokens are the words here
    assert scores["cider"] == pytest.approx(np.mean(REFERENCE_CIDER), rel=1e-12)
    assert np.mean(REFERENCE_CIDER) == pytest.approx(1.8020619630586265)


# A length tie: the candidate has 4 words, the references 5 and 3. coco-caption's BLEU takes the closer length and,
# on a tie, the shorter one (3), so there is no brevity penalty (taking the first reference, 5, would multiply by
# exp(1 - 5/4)). Clipped n-gram precisions: 3/4, 2/3, 1/2, 0/1; coco-caption adds 1e-15 to the matches and 1e-9
# to the n-gram count. ROUGE-L: LCS 3 with both references, best precision 3/4, best recall 3/3, beta 1.2.
TIE_CANDIDATE = "Forest near the river."  # both tokenizers: lower case, no full stop
TIE_REFERENCES = ["forest near the lake shore", "forest near the"]
PRECISIONS = [(3 + 1e-15) / (4 + 1e-9), (2 + 1e-15) / (3 + 1e-9), (1 + 1e-15) / (2 + 1e-9), 1e-15 / (1 + 1e-9)]
TIE_BLEU = [math.prod(PRECISIONS[:n]) ** (1 / n) for n in range(1, 5)]
TIE_ROUGE_L = (1 + 1.2**2) * 0.75 * 1.0 / (1.0 + 1.2**2 * 0.75)


@pytest.mark.parametrize("java", [pytest.param(True, marks=needs_java), False])
def test_bleu_and_rouge_l_as_coco_caption(java: bool) -> None:
    scores, backend = caption_scores([TIE_CANDIDATE], [TIE_REFERENCES], java=java)
    assert backend == (COCO if java else FALLBACK)
    np.testing.assert_allclose([scores[f"bleu_{n}"] for n in range(1, 5)], TIE_BLEU, rtol=1e-9)
    assert TIE_BLEU[0] == pytest.approx(0.75)
    assert scores["rouge_l"] == pytest.approx(TIE_ROUGE_L, rel=1e-12)
    assert scores["cider"] == 0.0  # one image: every reference n-gram has idf log(1/1) = 0
    assert all(math.isnan(v) for v in caption_scores([], [], java=java)[0].values())


@pytest.mark.slow
@needs_java
def test_meteor_1_5() -> None:
    # METEOR 1.5 (English: alpha 0.85, beta 0.2, gamma 0.6): all 3 words match (precision = recall = 1) in 2 chunks
    # ("pastures", "arable land"), so the score is 1 - 0.6 (2/3)^0.2
    scores, _ = caption_scores(["Pastures, arable land."], [["arable land pastures"]], java=True)
    assert scores["meteor"] == pytest.approx(1 - 0.6 * (2 / 3) ** 0.2, abs=1e-9)


def test_meteor_without_java() -> None:
    same, _ = caption_scores(["arable land and pastures"], [["arable land and pastures"]], java=False)
    assert same["meteor"] == pytest.approx(1 - 0.5 * (1 / 4) ** 3)  # NLTK: one chunk of 4 matched words
    # Porter stems match without WordNet (no download): "forests" matches "forest"
    stem = caption_scores(["forests near lakes"], [["forest near lake"]], java=False)[0]["meteor"]
    assert stem == pytest.approx(1 - 0.5 * (1 / 3) ** 3)
    assert tokens("Arable land: 62%, (west)!") == ["arable", "land", "62%", "west"]


# A corpus fed in batches: patch "b"'s references arrive after its predictions, patch "c" has two predictions,
# patch "d" none (its references must not count in CIDEr-D's document frequencies), and TIE_CANDIDATE against
# TIE_REFERENCES is the length tie of test_bleu_and_rouge_l_as_coco_caption.
BATCHES = [
    (["a", "a", "c"], ["Arable land covers most of the image.", "Arable land and pastures.", "A lake near a forest."],
     ["a", "b", "c"], ["Arable land covers the image.", "Forest near the river.", "A lake."]),
    (["b", "b", "d", "d"], [*TIE_REFERENCES, "Urban fabric in the west.", "Industrial units."],
     ["c", "a"], ["A forest near a lake, a lake near a forest.", "Pastures."]),
    (["c"], ["Coniferous forest around a lake."], [], []),
]  # fmt: skip


@pytest.mark.parametrize("java", [pytest.param(True, marks=[needs_java, pytest.mark.slow]), False])
def test_chunked_corpus_equals_one_shot_pycocoevalcap(java: bool) -> None:
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.meteor.meteor import Meteor
    from pycocoevalcap.rouge.rouge import Rouge
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    corpus = CaptionCorpus(java=java, chunk=2)
    for batch in BATCHES:
        corpus.add(*batch)
    scores, _ = corpus.scores()
    references: dict[str, list[str]] = {}
    for keys, texts, _, _ in BATCHES:
        for key, text in zip(keys, texts, strict=True):
            references.setdefault(key, []).append(text)
    predictions = [(key, text) for _, _, keys, texts in BATCHES for key, text in zip(keys, texts, strict=True)]
    gts = {i: [{"caption": r} for r in references[key]] for i, (key, _) in enumerate(predictions)}
    res = {i: [{"caption": text}] for i, (_, text) in enumerate(predictions)}
    if java:
        gts, res = PTBTokenizer().tokenize(gts), PTBTokenizer().tokenize(res)
    else:
        gts, res = ({i: [" ".join(tokens(c["caption"])) for c in d[i]] for i in d} for d in (gts, res))
    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    assert [scores[f"bleu_{n}"] for n in range(1, 5)] == pytest.approx(bleu, rel=1e-12)
    assert scores["rouge_l"] == pytest.approx(Rouge().compute_score(gts, res)[0], rel=1e-12)
    assert scores["cider"] == pytest.approx(Cider().compute_score(gts, res)[0], rel=1e-12)
    assert scores["cider"] > 0
    if java:
        assert scores["meteor"] == pytest.approx(Meteor().compute_score(gts, res)[0], rel=1e-12)


def test_caption_corpus_errors() -> None:
    corpus = CaptionCorpus(java=False)
    with pytest.raises(ConfigError, match="one key per caption"):
        corpus.add(["a"], [], [], [])
    corpus.add(["a"], ["arable land"], ["b"], ["pastures"])
    with pytest.raises(ConfigError, match=r"1 predicted caption.* no reference caption, e.g. b"):
        corpus.scores()


def test_document_frequencies_beyond_65535_reference_words() -> None:
    from bigearth.text.caption_metrics import _DocumentFrequency

    # 66,000 distinct words: 4-gram codes no longer fit 64 bits and are kept as Python integers. Patch 0 has the
    # long reference and "w1 w2 w3" (1 prediction), patch 1 has "w5 w6 w7" (2 predictions).
    long = " ".join(f"w{i}" for i in range(66_000))
    frequency = _DocumentFrequency([long, "w1 w2 w3", "w5 w6 w7"], np.array([0, 2, 3]), np.array([1, 2]))
    assert frequency.dtype == object
    grams = [("w1", "w2", "w3"), ("w5", "w6"), ("w65999",), ("w5", "w6", "w7", "w8"), ("w3", "w2"), ("x",)]
    by_hand = {("w1", "w2", "w3"): 1.0, ("w5", "w6"): 3.0, ("w65999",): 1.0, ("w5", "w6", "w7", "w8"): 1.0}
    assert frequency.lookup(grams) == by_hand
    small = _DocumentFrequency(["a b", "b a"], np.array([0, 1, 2]), np.array([1, 0]))  # patch 1: no prediction
    assert small.dtype == np.uint64
    assert small.lookup([("a", "b"), ("b", "a"), ("a",)]) == {("a", "b"): 1.0, ("a",): 1.0}
