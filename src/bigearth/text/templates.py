"""The wording of every generated text: phrasings per question kind, caption families, prompts and value words.

All wording lives here, so that a change of style is a change of this file only. A phrasing is a
:meth:`str.format` template; its fields are ``{a}`` and ``{b}`` (class names in sentence case), ``{t}``
(a percentage), ``{k}`` (a number), ``{d}`` (a direction word), ``{r}`` (a region) and ``{x}`` (a country,
season or climate zone). One is drawn per text with the patch's random generator, so the same seed gives the
same wording.
"""

from collections.abc import Sequence
from functools import cache

import numpy as np

from bigearth.nomenclature import CLASS_CODES

#: Phrasings of binary questions, by query predicate.
BINARY: dict[str, tuple[str, ...]] = {
    "present": ("Is there {a} in this image?", "Does the image show any {a}?", "Can you see {a} in this patch?"),
    "area_above": ("Does {a} cover more than {t} of the image?", "Is more than {t} of this patch {a}?"),
    "larger": ("Is there more {a} than {b} in this image?", "Does {a} cover a larger area than {b}?"),
    "components_above": (
        "Are there more than {k} separate areas of {a}?",
        "Is {a} split into more than {k} separate parts?",
    ),
    "class_count_above": (
        "Are there more than {k} land-cover classes in this image?",
        "Does this patch hold more than {k} kinds of land cover?",
    ),
    "touches": ("Does {a} border {b}?", "Is {a} adjacent to {b}?", "Do {a} and {b} touch each other?"),
    "direction_is": ("Is {a} {d} of {b}?", "Does {a} lie to the {d} of {b}?"),
    "country_is": ("Was this image taken in {x}?", "Is this area in {x}?"),
    "season_is": ("Was this image acquired in {x}?", "Is this a {x} image?"),
    "climate_is": ("Is this area in the {x} climate zone?", "Does this place have a {x} climate?"),
}

#: Phrasings of multiple-choice questions, by query predicate.
MULTIPLE_CHOICE: dict[str, tuple[str, ...]] = {
    "classes": ("Which of these land-cover classes is in the image?", "Which class can be seen in this patch?"),
    "largest": ("Which class covers the largest area?", "What is the main land cover of this image?"),
    "area_bin": ("How much of the image does {a} cover?", "What share of this patch is {a}?"),
    "components": ("How many separate areas of {a} are there?", "Into how many parts is {a} split?"),
    "class_count": ("How many land-cover classes are in this image?", "How many kinds of land cover does it show?"),
    "neighbours": ("Which class borders {a}?", "Which of these classes touches {a}?"),
    "direction": ("Where does {a} lie relative to {b}?", "In which direction from {b} is {a}?"),
    "position": ("In which part of the image is {a} mostly?", "Where in the patch does {a} mainly lie?"),
    "country": ("In which country was this image taken?", "Which country is this patch in?"),
    "season": ("In which season was this image acquired?", "When in the year was this image taken?"),
    "climate": ("Which climate zone is this area in?", "What is the Köppen-Geiger climate of this place?"),
}

#: Phrasings of detection instructions, by query predicate.
DETECTION: dict[str, tuple[str, ...]] = {
    "boxes": ("Detect every area of {a}.", "Find all areas of {a} and give their bounding boxes."),
    "largest_box": ("Detect the largest area of {a}.", "Give the bounding box of the largest area of {a}."),
    "boxes_touching": ("Detect the areas of {a} that border {b}.", "Find the areas of {a} adjacent to {b}."),
}

#: Instructions that ask for a caption.
CAPTION_PROMPTS: tuple[str, ...] = (
    "Describe this image.",
    "Write a caption for this Sentinel-1/Sentinel-2 image pair.",
    "What does this image show?",
    "Give a short description of the land cover in this patch.",
)

#: Caption families: one template per wording variant, fields as described in each family's builder.
CAPTION_FAMILIES: dict[str, tuple[str, ...]] = {
    "inventory": ("This image shows {list}.", "The patch contains {list}.", "Land cover visible here: {list}."),
    "area": ("{list}.", "By area, {list}.", "In this image, {list}."),
    "layout": ("{list}.", "In this patch, {list}.", "As for the layout, {list}."),
    "context": (
        "An image taken in {season} in {country}, in a {climate} climate, showing mainly {a}.",
        "This {season} scene in {country}, with a {climate} climate, is dominated by {a}.",
        "Taken in {season} in {country}, where the climate is {climate}, this patch is mostly {a}.",
    ),
}
#: How one class's area is said in an "area" caption (``{a}`` class, ``{t}`` percentage).
AREA_CLAUSES: tuple[str, ...] = ("{a} covers {t}", "{a} takes up {t}", "{t} is {a}")
#: How one class's place is said in a "layout" caption (``{r}`` region).
POSITION_CLAUSES: tuple[str, ...] = ("{a} lies in the {r}", "{a} is mostly in the {r}", "{a} occupies the {r}")
#: How two touching classes are said in a "layout" caption.
TOUCH_CLAUSES: tuple[str, ...] = ("{a} borders {b}", "{a} is next to {b}", "{a} touches {b}")
#: How a class's fragmentation is said in a "layout" caption (``{k}`` components, 2 or more).
SPLIT_CLAUSES: tuple[str, ...] = ("{a} forms {k} separate areas", "{a} is split into {k} parts")

#: Options of the area question ``area_bin``: (lower, upper) share bounds and how they are said.
AREA_BINS: tuple[tuple[float, float, str], ...] = (
    (0.0, 0.1, "less than 10%"),
    (0.1, 0.25, "10% to 25%"),
    (0.25, 0.5, "25% to 50%"),
    (0.5, 1.01, "more than 50%"),
)
#: Area thresholds of binary area questions.
AREA_THRESHOLDS: tuple[float, ...] = (0.1, 0.25, 0.5, 0.75)
#: Names of the CLC level-1 groups, by the first digit of a class's codes.
LEVEL1_GROUPS: dict[str, str] = {
    "1": "artificial surfaces",
    "2": "agricultural areas",
    "3": "forests and semi-natural areas",
    "4": "wetlands",
    "5": "water bodies",
}


@cache
def group_of(name: str) -> str:
    """Return the CLC level-1 group digit of a class (``"1"``..``"5"``)."""
    return str(CLASS_CODES[name][0])[0]


def in_sentence(name: str) -> str:
    """Return a class name as written inside a sentence (``"Arable land"`` -> ``"arable land"``)."""
    return name[0].lower() + name[1:]


def capitalised(text: str) -> str:
    """Return ``text`` with its first letter upper case."""
    return text[0].upper() + text[1:]


def percent(share: float) -> str:
    """Return a share 0..1 as whole percent, ``"62%"`` (``"less than 1%"`` under half a percent)."""
    value = round(share * 100)
    return "less than 1%" if value == 0 else f"{value}%"


def listing(items: Sequence[str]) -> str:
    """Join ``["a", "b", "c"]`` as ``"a, b and c"`` (with ``"; "`` between items that hold a comma)."""
    if len(items) == 1:
        return items[0]
    separator = "; " if any("," in item for item in items) else ", "
    return f"{separator.join(items[:-1])} and {items[-1]}"


def pick(rng: np.random.Generator, phrasings: Sequence[str]) -> str:
    """Return one phrasing drawn with ``rng``."""
    return phrasings[int(rng.integers(len(phrasings)))]


def phrase(rng: np.random.Generator, phrasings: Sequence[str], **fields: object) -> str:
    """Draw a phrasing and fill it in; class fields ``a`` and ``b`` are put in sentence case."""
    values = {key: in_sentence(value) if key in ("a", "b") else value for key, value in fields.items()}
    return capitalised(pick(rng, phrasings).format(**values))


def options_block(question: str, options: Sequence[str]) -> str:
    """Return a multiple-choice input: the question, then one ``"a) option"`` line per option."""
    lines = [f"{letter}) {option}" for letter, option in zip("abcd", options, strict=False)]
    return "\n".join([question, *lines])
