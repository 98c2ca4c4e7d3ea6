"""The forms of the text files: BigEarthNet.txt columns, text types and categories, and one text with its meaning.

A BigEarthNet.txt file (Sumbul et al., BigEarthNet.txt; DESIGN 2.10) has one row per text with the columns
:data:`TEXT_COLUMNS`. ``output`` is, by ``type``:

* ``caption``: a sentence or two;
* ``binary``: ``yes`` or ``no``;
* ``multiple_choice``: the letter ``a``..``d`` of the right option, the options being listed in ``input``;
* ``detection``: a JSON list of boxes ``[[x_min, y_min, x_max, y_max], ...]`` normalised to 0..1
  (x to the east, y to the south, from the patch's north-west corner).

A predictions file has the columns :data:`PREDICTION_COLUMNS` (``ID``, ``prediction``) with answers in the same
forms. An RSVQAxBEN-style file has the columns :data:`RSVQA_COLUMNS`.
"""

from dataclasses import dataclass, field

#: Columns of a BigEarthNet.txt file, in order.
TEXT_COLUMNS: tuple[str, ...] = (
    "ID", "s1_name", "patch_id", "input", "output", "type", "category", "split",
    "latitude", "longitude", "country", "season", "climate_zone",
)  # fmt: skip
#: Columns of a predictions file.
PREDICTION_COLUMNS: tuple[str, ...] = ("ID", "prediction")
#: Columns of an RSVQAxBEN-style question file.
RSVQA_COLUMNS: tuple[str, ...] = ("ID", "patch_id", "s1_name", "split", "question", "answer", "type", "form")

CAPTION = "caption"
BINARY = "binary"
MULTIPLE_CHOICE = "multiple_choice"
DETECTION = "detection"
#: Text types, in report order.
TEXT_TYPES: tuple[str, ...] = (CAPTION, BINARY, MULTIPLE_CHOICE, DETECTION)

#: Task categories of questions and detection instructions, in report order (captions have category "caption").
CATEGORIES: tuple[str, ...] = (
    "presence", "area", "counting", "adjacency", "relative position", "country", "season", "climate zone",
)  # fmt: skip

YES, NO = "yes", "no"
#: Option letters of multiple-choice questions.
LETTERS: tuple[str, ...] = ("a", "b", "c", "d")


@dataclass(frozen=True)
class Query:
    """The meaning of a question or of one statement of a caption, as a predicate over a patch's facts.

    The predicates and their values (``tests/test_text_generate.py`` evaluates them independently):

    * yes/no: ``present(c)``, ``area_above(c, t)``, ``larger(a, b)``, ``components_above(c, k)``,
      ``class_count_above(k)``, ``touches(a, b)``, ``direction_is(a, b, d)``, ``country_is(x)``,
      ``season_is(x)``, ``climate_is(x)``;
    * values: ``classes()`` (set of classes present), ``area(c)`` (share 0..1), ``area_bin(c)``
      (a label of :data:`~bigearth.text.templates.AREA_BINS`), ``largest()`` (class), ``components(c)``,
      ``class_count()`` (int), ``neighbours(c)`` (set of classes), ``position(c)`` (region),
      ``direction(a, b)`` (north, south, east or west), ``country()``, ``season()``, ``climate()`` (str);
    * boxes: ``boxes(c)``, ``largest_box(c)``, ``boxes_touching(a, b)`` (lists of normalised boxes).

    A multiple-choice option is right when it equals the value, or belongs to it for a set.

    Attributes:
        predicate: one of the names above.
        args: its arguments (class names, thresholds, region or direction words).
    """

    predicate: str
    args: tuple[str | float | int, ...] = ()


@dataclass(frozen=True)
class Text:
    """One generated text of a patch, with what it means.

    Attributes:
        input: the instruction or question shown to a model.
        output: the reference answer (see the module docstring for its form per type).
        type: one of :data:`TEXT_TYPES`.
        category: one of :data:`CATEGORIES`, or ``"caption"``.
        query: for questions and detection instructions, the predicate whose value the output gives.
        claims: for captions, the statements made, as ``(query, stated value)`` pairs (areas in whole percent).
        options: for multiple-choice questions, the option values in letter order.
    """

    input: str
    output: str
    type: str
    category: str
    query: Query | None = None
    claims: tuple[tuple[Query, object], ...] = field(default=())
    options: tuple[object, ...] = field(default=())
