"""Answer parsing and metrics: IoU scores by hand, CIDEr-D against the reference implementation, BLEU, ROUGE-L and
METEOR against known values and independent formulas."""

import math

import numpy as np
import pytest

from bigearth.errors import CorruptDataError
from bigearth.text.answers import options_of, parse_binary, parse_boxes, parse_choice
from bigearth.text.cider import cider_d
from bigearth.text.metrics import box_score, caption_scores, iou_matrix, tokens


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
                         ("[[0, 0, 1.5, 1]]", "within 0..1"), ("boxes!", "no JSON"), ('{"a": 1}', "no list"),
                         ('[["a", 0, 1, 1]]', "not 4 finite")]:  # fmt: skip
        with pytest.raises(CorruptDataError, match=rf"prediction row-7: .*{message}"):
            parse_boxes(bad, "row-7")


def test_box_scores_by_hand() -> None:
    a, b = [0.0, 0.0, 0.5, 0.5], [0.25, 0.0, 0.75, 0.5]
    np.testing.assert_allclose(iou_matrix(np.array([a]), np.array([b])), [[0.125 / 0.375]])
    perfect = box_score([a, b], [b, a])
    assert (perfect.iou, perfect.right, perfect.matches) == (1.0, True, 2)
    shifted = box_score([b], [a])  # IoU 1/3: matched but below 0.5
    assert shifted.iou == pytest.approx(1 / 3)
    assert not shifted.right
    extra = box_score([a, [0.6, 0.6, 1.0, 1.0]], [a])  # one extra box halves the score
    assert extra.iou == pytest.approx(0.5)
    assert not extra.right
    assert box_score([], []).right
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
    scores = cider_d([c.split() for c in CANDIDATES], [[r.split() for r in refs] for refs in REFERENCES])
    np.testing.assert_allclose(scores, REFERENCE_CIDER, rtol=1e-12)
    assert np.mean(scores) == pytest.approx(1.8020619630586265)


def lcs(a: list[str], b: list[str]) -> int:
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i, x in enumerate(a):
        for j, y in enumerate(b):
            table[i + 1][j + 1] = table[i][j] + 1 if x == y else max(table[i][j + 1], table[i + 1][j])
    return table[-1][-1]


def test_caption_scores() -> None:
    # torchmetrics' documented BLEU-4 example; ROUGE-L and METEOR from their formulas
    hyp, refs = "the cat is on the mat", ["there is a cat on the mat", "a cat is on the mat"]
    scores = caption_scores([hyp], [refs])
    assert scores["bleu_4"] == pytest.approx(0.7598, abs=1e-4)
    f = [2 * lcs(hyp.split(), r.split()) / (len(hyp.split()) + len(r.split())) for r in refs]
    assert scores["rouge_l"] == pytest.approx(max(f))
    same = caption_scores(["arable land and pastures"], [["arable land and pastures"]])
    assert same["bleu_4"] == pytest.approx(1.0)
    assert same["meteor"] == pytest.approx(1 - 0.5 * (1 / 4) ** 3)  # one chunk of 4 matched words
    # Porter stems match without WordNet (no download): "forests" matches "forest"
    stem = caption_scores(["forests near lakes"], [["forest near lake"]])["meteor"]
    assert stem == pytest.approx(1 - 0.5 * (1 / 3) ** 3)
    assert all(math.isnan(v) for v in caption_scores([], []).values())
    assert tokens("Arable land: 62%, (west)!") == ["arable", "land", "62%", "west"]
