"""Captions of one patch from its facts: four template families, each with several wordings.

* ``inventory``: the classes present, largest first.
* ``area``: the shares of the largest classes (up to :data:`MAX_LISTED`), in whole percent; the rest by name.
* ``layout``: where the largest classes lie, which class borders the largest one, which class is split.
* ``context``: season, country and climate zone, and the largest class.

Every statement is kept as a claim (:class:`~bigearth.text.schema.Text`), so tests check each one against the
reference map. A caption may be rephrased by a local language model through a plain function
(:data:`Rephraser`); claims then describe the template caption it was made from.
"""

from collections.abc import Callable

import numpy as np

from bigearth.text import templates
from bigearth.text.balance import draw
from bigearth.text.climate import KOPPEN_ZONES
from bigearth.text.facts import PatchFacts
from bigearth.text.schema import CAPTION, CAPTION_CATEGORY, Query, Text

#: A rephrasing hook: takes a template caption, returns the rephrased caption (e.g. a local language model call).
Rephraser = Callable[[str], str]
#: Classes named with their share in an ``area`` caption, and placed in a ``layout`` caption.
MAX_LISTED = 4

Caption = tuple[str, tuple[tuple[Query, object], ...]]


def _by_area(facts: PatchFacts) -> list:
    return sorted(facts.classes.values(), key=lambda c: -c.pixels)


def _clause(rng: np.random.Generator, phrasings: tuple[str, ...], **fields: object) -> str:
    values = {key: templates.in_sentence(value) if key in ("a", "b") else value for key, value in fields.items()}
    return templates.pick(rng, phrasings).format(**values)


def _sentence(rng: np.random.Generator, family: str, **fields: object) -> str:
    return templates.capitalised(templates.pick(rng, templates.CAPTION_FAMILIES[family]).format(**fields))


def _inventory(facts: PatchFacts, rng: np.random.Generator) -> Caption:
    names = [item.name for item in _by_area(facts)]
    text = _sentence(rng, "inventory", list=templates.listing([templates.in_sentence(n) for n in names]))
    return text, tuple((Query("present", (n,)), True) for n in names)


def _area(facts: PatchFacts, rng: np.random.Generator) -> Caption:
    ranked = _by_area(facts)
    listed, rest = ranked[:MAX_LISTED], ranked[MAX_LISTED:]
    clauses = [_clause(rng, templates.AREA_CLAUSES, a=c.name, t=templates.percent(c.area)) for c in listed]
    claims = [(Query("area", (c.name,)), round(c.area * 100)) for c in listed]
    if rest:
        clauses.append("small areas of " + templates.listing([templates.in_sentence(c.name) for c in rest]))
        claims += [(Query("present", (c.name,)), True) for c in rest]
    return _sentence(rng, "area", list=templates.listing(clauses)), tuple(claims)


def _layout(facts: PatchFacts, rng: np.random.Generator) -> Caption:
    ranked = _by_area(facts)[: MAX_LISTED - 1]
    clauses = [_clause(rng, templates.POSITION_CLAUSES, a=c.name, r=c.position) for c in ranked]
    claims: list[tuple[Query, object]] = [(Query("position", (c.name,)), c.position) for c in ranked]
    largest = ranked[0]
    if largest.neighbours:
        other = draw(largest.neighbours, rng)
        clauses.append(_clause(rng, templates.TOUCH_CLAUSES, a=largest.name, b=other))
        claims.append((Query("touches", (largest.name, other)), True))
    split = [c for c in ranked if len(c.components) > 1]
    if split:
        item = draw(split, rng)
        clauses.append(_clause(rng, templates.SPLIT_CLAUSES, a=item.name, k=len(item.components)))
        claims.append((Query("components", (item.name,)), len(item.components)))
    return _sentence(rng, "layout", list=templates.listing(clauses)), tuple(claims)


def _context(facts: PatchFacts, rng: np.random.Generator) -> Caption | None:
    ranked = _by_area(facts)
    if len(ranked) > 1 and ranked[0].pixels == ranked[1].pixels:
        return None  # no single largest class to name
    context = facts.context
    climate = f"{KOPPEN_ZONES.get(context.climate_zone, 'unknown')} ({context.climate_zone})"
    text = _sentence(
        rng, "context", season=context.season, country=context.country, climate=climate,
        a=templates.in_sentence(ranked[0].name),
    )  # fmt: skip
    claims = (
        (Query("season"), context.season), (Query("country"), context.country),
        (Query("climate"), context.climate_zone), (Query("largest"), ranked[0].name),
    )  # fmt: skip
    return text, claims


_FAMILIES: dict[str, Callable[[PatchFacts, np.random.Generator], Caption | None]] = {
    "inventory": _inventory, "area": _area, "layout": _layout, "context": _context,
}  # fmt: skip


def captions(facts: PatchFacts, rng: np.random.Generator, count: int = 2) -> list[Text]:
    """Return ``count`` captions of a patch from different families (fewer where fewer families apply).

    Args:
        facts: the patch's facts.
        rng: the patch's random generator (families and wordings).
        count: captions per patch, 0..4.
    """
    texts = []
    for family in (str(name) for name in rng.permutation(list(_FAMILIES))):
        if len(texts) == count:
            break
        caption = _FAMILIES[family](facts, rng)
        if caption is not None:
            prompt = templates.pick(rng, templates.CAPTION_PROMPTS)
            texts.append(Text(prompt, caption[0], CAPTION, CAPTION_CATEGORY, claims=caption[1]))
    return texts
