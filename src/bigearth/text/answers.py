"""Reading predicted answers: tolerant parsing of yes/no and option letters, strict checking of boxes.

Parsing rules (documented for users of ``bigearth text evaluate``):

* **binary**: case, surrounding spaces and punctuation are ignored and the first word counts: ``yes``, ``y``,
  ``true`` mean yes; ``no``, ``n``, ``false`` mean no (``"Yes, there is."`` is yes). Anything else is
  unparsable and scored as wrong.
* **multiple choice**: a letter a-d alone or opening the answer (``"b"``, ``"B)"``, ``"(b)"``, ``"b. Pastures"``),
  ``"answer: b"`` / ``"option b"``, or the exact text of one option (case-insensitive). Anything else is
  unparsable and scored as wrong.
* **bounding box**: boxes normalised to 0..1, in any of the forms the release and its public adapters use
  (DESIGN 2.10 lists the exact released form as unknown): a JSON list of ``[x_min, y_min, x_max, y_max]`` boxes
  (a single box without the outer list is accepted; ``[]`` means no box), or boxes written ``[x1 y1, x2 y2]``
  and points written ``(x, y)``, one or several, optionally inside ``<box>``/``<point>`` tags and after a
  ``<ref>...</ref>`` phrase. A point is read as a box of zero size ``[x, y, x, y]`` (no area, so its IoU is 0,
  even with itself: rows of the ``point`` category are scored by exact match instead, see
  :mod:`bigearth.text.evaluate`). Anything else is malformed: an error naming the row, or the row is left out with
  ``--skip-invalid``. The reference outputs are read by the same rules.
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
_NUMBER = r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"
#: ``[x1 y1, x2 y2]`` boxes and ``(x, y)`` points of the grounding adapters' text form.
_TEXT_BOX = re.compile(
    rf"\[\s*{_NUMBER}\s+{_NUMBER}\s*,\s*{_NUMBER}\s+{_NUMBER}\s*\]|\(\s*{_NUMBER}\s*,\s*{_NUMBER}\s*\)"
)
_TAGS = re.compile(r"<ref>.*?</ref>|</?(?:box|point)>", re.DOTALL)
_SEPARATORS = re.compile(r"^(?:[\s,;]|and)*$")
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


def _text_boxes(text: str) -> list[list[float]] | None:
    """Return the boxes of the text form (``[x1 y1, x2 y2]``, ``(x, y)``, tags), or None if it is not that form."""
    text = _TAGS.sub(" ", text)
    found = list(_TEXT_BOX.finditer(text))
    if not found or not _SEPARATORS.match(_TEXT_BOX.sub(" ", text)):
        return None
    boxes = []
    for match in found:
        numbers = [float(v) for v in match.groups() if v is not None]
        boxes.append(numbers if len(numbers) == 4 else numbers * 2)
    return boxes


def parse_boxes(prediction: str, row: str, what: str = "prediction") -> list[list[float]]:
    """Return the boxes of a detection answer.

    Args:
        prediction: JSON text, e.g. ``"[[0.1, 0.2, 0.5, 0.6]]"``, or the text form, e.g.
            ``"<ref>arable land</ref><box>[0.1 0.2, 0.5 0.6]</box>"`` (see the module docstring).
        row: the row's ID, named in errors.
        what: what the text is, named in errors (``"prediction"``, ``"reference output"``).

    Raises:
        CorruptDataError: if the text is no list of 4-number boxes with 0 <= x_min <= x_max <= 1 (same for y).
    """
    advice = "give a JSON list of [x_min, y_min, x_max, y_max] boxes normalised to 0..1"
    try:
        value = json.loads(prediction)
    except (TypeError, ValueError) as error:
        value = _text_boxes(str(prediction))
        if value is None:
            raise CorruptDataError(
                f"{what} {row}: {prediction!r} is neither JSON ({error}) nor boxes written [x1 y1, x2 y2] or "
                f"points (x, y); {advice}"
            ) from None
    if isinstance(value, list) and len(value) == 4 and all(isinstance(v, int | float) for v in value):
        value = [value]
    if not isinstance(value, list):
        raise CorruptDataError(f"{what} {row}: {prediction!r} is no list of boxes; {advice}")
    boxes = []
    for box in value:
        numbers = isinstance(box, list) and len(box) == 4
        numbers = numbers and all(isinstance(v, int | float) and not isinstance(v, bool) for v in box)
        if not numbers or not all(math.isfinite(v) for v in box):
            raise CorruptDataError(f"{what} {row}: box {box!r} is not 4 finite numbers; {advice}")
        x0, y0, x1, y1 = (float(v) for v in box)
        inside = all(-BOX_TOLERANCE <= v <= 1 + BOX_TOLERANCE for v in (x0, y0, x1, y1))
        if not inside or x0 > x1 or y0 > y1:
            raise CorruptDataError(
                f"{what} {row}: box {box!r} is not ordered (x_min <= x_max, y_min <= y_max) within 0..1; {advice}"
            )
        boxes.append([x0, y0, x1, y1])
    return boxes
