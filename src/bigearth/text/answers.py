"""Reading predicted answers: tolerant parsing of yes/no and option letters, strict checking of boxes.

Parsing rules (documented for users of ``bigearth text evaluate``):

* **binary**: case, surrounding spaces and punctuation are ignored and the first word counts: ``yes``, ``y``,
  ``true`` mean yes; ``no``, ``n``, ``false`` mean no (``"Yes, there is."`` is yes). Anything else is
  unparsable and scored as wrong.
* **multiple choice**: a letter a-d alone or opening the answer (``"b"``, ``"B)"``, ``"(b)"``, ``"b. Pastures"``),
  ``"answer: b"`` / ``"option b"``, or the exact text of one option (case-insensitive). Anything else is
  unparsable and scored as wrong.
* **detection**: a JSON list of ``[x_min, y_min, x_max, y_max]`` boxes normalised to 0..1 (a single box without
  the outer list is accepted; ``[]`` means no box). Anything else is malformed: an error naming the row, or the
  row is left out with ``--skip-invalid``.
"""

import json
import math
import re

from bigearth.errors import CorruptDataError
from bigearth.text.schema import LETTERS, NO, YES

_YES_WORDS = {"yes", "y", "true"}
_NO_WORDS = {"no", "n", "false"}
_LEADING_LETTER = re.compile(r"^\(?([a-d])\)?(?:[\s.:),\-]|$)")
_NAMED_LETTER = re.compile(r"\b(?:answer|option)\s*(?:is)?\s*[:\-]?\s*\(?([a-d])\b")
_OPTION_LINE = re.compile(r"^([a-d])\) (.*)$")
#: Tolerance on box coordinates outside 0..1 (rounding of predicted numbers).
BOX_TOLERANCE = 1e-6


def _clean(text: str) -> str:
    return text.strip().strip(".!?,;:\"'()[] ").lower()


def parse_binary(prediction: str) -> str | None:
    """Return ``"yes"``, ``"no"``, or None for an unparsable answer."""
    words = _clean(str(prediction)).split()
    first = words[0].strip(".,;:!?") if words else ""
    return YES if first in _YES_WORDS else NO if first in _NO_WORDS else None


def options_of(question: str) -> list[str]:
    """Return the option texts of a multiple-choice input, in letter order."""
    return [match[2] for line in question.split("\n") if (match := _OPTION_LINE.match(line))]


def parse_choice(prediction: str, options: list[str]) -> str | None:
    """Return the letter a prediction chooses, or None for an unparsable answer.

    Args:
        prediction: the model's answer.
        options: the option texts of the question (:func:`options_of`), to recognise an answer given as text.
    """
    text = str(prediction).strip().lower()
    for pattern in (_LEADING_LETTER, _NAMED_LETTER):
        match = pattern.search(text) if pattern is _NAMED_LETTER else pattern.match(text)
        if match:
            return match[1]
    cleaned = _clean(text)
    for letter, option in zip(LETTERS, options, strict=False):
        if cleaned == _clean(option):
            return letter
    return None


def parse_boxes(prediction: str, row: str) -> list[list[float]]:
    """Return the boxes of a detection answer.

    Args:
        prediction: JSON text, e.g. ``"[[0.1, 0.2, 0.5, 0.6]]"``.
        row: the row's ID, named in errors.

    Raises:
        CorruptDataError: if the text is no list of 4-number boxes with 0 <= x_min <= x_max <= 1 (same for y).
    """
    advice = "give a JSON list of [x_min, y_min, x_max, y_max] boxes normalised to 0..1"
    try:
        value = json.loads(prediction)
    except (TypeError, ValueError) as error:
        raise CorruptDataError(f"prediction {row}: {prediction!r} is no JSON ({error}); {advice}") from None
    if isinstance(value, list) and len(value) == 4 and all(isinstance(v, int | float) for v in value):
        value = [value]
    if not isinstance(value, list):
        raise CorruptDataError(f"prediction {row}: {prediction!r} is no list of boxes; {advice}")
    boxes = []
    for box in value:
        numbers = isinstance(box, list) and len(box) == 4
        numbers = numbers and all(isinstance(v, int | float) and not isinstance(v, bool) for v in box)
        if not numbers or not all(math.isfinite(v) for v in box):
            raise CorruptDataError(f"prediction {row}: box {box!r} is not 4 finite numbers; {advice}")
        x0, y0, x1, y1 = (float(v) for v in box)
        inside = all(-BOX_TOLERANCE <= v <= 1 + BOX_TOLERANCE for v in (x0, y0, x1, y1))
        if not inside or x0 > x1 or y0 > y1:
            raise CorruptDataError(
                f"prediction {row}: box {box!r} is not ordered (x_min <= x_max, y_min <= y_max) within 0..1; {advice}"
            )
        boxes.append([x0, y0, x1, y1])
    return boxes
