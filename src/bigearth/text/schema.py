"""The forms of the text files: BigEarthNet.txt columns, text types and categories, and one text with its meaning.

A BigEarthNet.txt file (Sumbul et al., BigEarthNet.txt; DESIGN 2.10) has one row per text with the columns
:data:`TEXT_COLUMNS`. ``output`` is, by ``type``:

* ``captioning``: a sentence or two;
* ``binary``: ``yes`` or ``no``;
* ``mcq``: the letter ``a``..``d`` of the right option, the options being listed in ``input``;
* ``bounding box``: boxes normalised to 0..1 (x to the east, y to the south, from the patch's north-west corner);
  bigearth writes a JSON list ``[[x_min, y_min, x_max, y_max], ...]`` and reads the released forms too
  (:func:`~bigearth.text.answers.parse_boxes`).

These are the released values (DESIGN 2.10): types :data:`TEXT_TYPES`, categories :data:`CATEGORIES`, seasons
:data:`SEASONS`, splits :data:`TEXT_SPLITS` (``bench`` is the manually verified benchmark). Files written by
bigearth before it followed the release (types ``caption``, ``multiple_choice``, ``detection``, category
``counting``, lower-case seasons) are read with a ``FutureWarning`` through :data:`LEGACY_TYPES` and
:data:`LEGACY_CATEGORIES` (:mod:`bigearth.text.reader`).

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

CAPTION = "captioning"
BINARY = "binary"
MULTIPLE_CHOICE = "mcq"
DETECTION = "bounding box"
#: Text types of the release, in report order.
TEXT_TYPES: tuple[str, ...] = (CAPTION, BINARY, MULTIPLE_CHOICE, DETECTION)
#: Type values of files written by earlier bigearth versions -> released values (read with a warning).
LEGACY_TYPES: dict[str, str] = {"caption": CAPTION, "multiple_choice": MULTIPLE_CHOICE, "detection": DETECTION}

#: Task categories of the release, in report order. bigearth generates all but ``point`` and ``reference``; the
#: category of released captioning rows is unknown (DESIGN 2.10), bigearth writes :data:`CAPTION_CATEGORY`.
CATEGORIES: tuple[str, ...] = (
    "presence", "area", "count", "adjacency", "point", "reference", "relative position", "season", "climate zone",
    "country",
)  # fmt: skip
#: The released category of pointing rows: scored by exact match (no pointing metric is defined, DESIGN 2.10).
POINT = "point"
#: Category values of earlier bigearth files -> released values (read with a warning).
LEGACY_CATEGORIES: dict[str, str] = {"counting": "count"}
#: The category bigearth gives its captions.
CAPTION_CATEGORY = "caption"
#: Seasons as the release writes them (meteorological, northern hemisphere).
SEASONS: tuple[str, ...] = ("Spring", "Summer", "Fall", "Winter")
#: Splits of a BigEarthNet.txt file; ``val`` is read as ``validation``.
TEXT_SPLITS: tuple[str, ...] = ("train", "validation", "test", "bench")

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
        category: one of :data:`CATEGORIES`, or :data:`CAPTION_CATEGORY`.
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
