"""Binary and multiple-choice questions of one patch, one of each per category where the patch allows it.

Yes and no are balanced per category, and each question is asked with either answer about equally often
(:class:`~bigearth.text.balance.Balancer`); the right option's letter is balanced too. Questions are only asked
where the answer is clear: areas and area thresholds at least :data:`AREA_MARGIN` apart, directions beyond
:data:`~bigearth.text.facts.DIRECTION_MARGIN`, a largest class ahead of the second by at least one pixel.
Distractors are plausible: absent classes of the CLC level-1 group of a present class first, present classes
that do not touch for adjacency, neighbouring numbers for counts, other European climate zones.
"""

from collections.abc import Callable, Sequence
from itertools import permutations

import numpy as np

from bigearth.data.layout import COUNTRIES
from bigearth.nomenclature import CLASSES_TABLE
from bigearth.text import templates
from bigearth.text.balance import Balancer, draw, shuffled
from bigearth.text.climate import describe_zone
from bigearth.text.facts import ALL_REGIONS, DIRECTIONS, PatchFacts, direction, direction_is
from bigearth.text.schema import BINARY, LETTERS, MULTIPLE_CHOICE, NO, SEASONS, YES, Query, Text

#: Smallest difference between an area and a threshold (or two areas) that a question may rest on.
AREA_MARGIN = 0.02
#: Köppen-Geiger zones offered as options: those of Europe.
CLIMATE_OPTIONS: tuple[str, ...] = ("Cfb", "Cfa", "Cfc", "Csa", "Csb", "Dfb", "Dfc", "Dfa", "Dsb", "ET", "BSk")

Candidates = dict[bool, list[Query]]


def absent_groups(facts: PatchFacts) -> tuple[list[str], list[str]]:
    """Return the absent classes of a patch as (plausible, other), in table order.

    Plausible classes share a CLC level-1 group with a present class.
    """
    groups = {templates.group_of(name) for name in facts.names}
    absent = [name for name in CLASSES_TABLE if name not in facts.classes]
    plausible = [name for name in absent if templates.group_of(name) in groups]
    return plausible, [name for name in absent if name not in plausible]


def absent_classes(facts: PatchFacts, rng: np.random.Generator) -> list[str]:
    """Return the classes absent from a patch, plausible ones first, each group in an order drawn with ``rng``."""
    plausible, other = absent_groups(facts)
    return [*shuffled(plausible, rng), *shuffled(other, rng)]


# ---- binary questions: per category, candidate queries for each answer ----


def _presence(facts: PatchFacts, rng: np.random.Generator) -> Candidates:
    plausible, other = absent_groups(facts)
    return {
        True: [Query("present", (n,)) for n in facts.names],
        False: [Query("present", (n,)) for n in plausible or other],
    }


def _area(facts: PatchFacts, rng: np.random.Generator) -> Candidates:
    out: Candidates = {True: [], False: []}
    for item in facts.classes.values():
        for threshold in templates.AREA_THRESHOLDS:
            if abs(item.area - threshold) >= AREA_MARGIN:
                out[item.area > threshold].append(Query("area_above", (item.name, threshold)))
    for a, b in permutations(facts.classes.values(), 2):
        if abs(a.area - b.area) >= AREA_MARGIN:
            out[a.area > b.area].append(Query("larger", (a.name, b.name)))
    return out


def _counting(facts: PatchFacts, rng: np.random.Generator) -> Candidates:
    out: Candidates = {True: [], False: []}
    for item in facts.classes.values():
        for k in (1, 2, 3):
            out[len(item.components) > k].append(Query("components_above", (item.name, k)))
    for k in (1, 2, 3, 4):
        out[len(facts.classes) > k].append(Query("class_count_above", (k,)))
    return out


def _adjacency(facts: PatchFacts, rng: np.random.Generator) -> Candidates:
    out: Candidates = {True: [], False: []}
    names = facts.names
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            out[b in facts.classes[a].neighbours].append(Query("touches", (a, b)))
    return out


def _relative_position(facts: PatchFacts, rng: np.random.Generator) -> Candidates:
    out: Candidates = {True: [], False: []}
    for a, b in permutations(facts.classes.values(), 2):
        for word in DIRECTIONS:
            answer = direction_is(a, b, word)
            if answer is not None:
                out[answer].append(Query("direction_is", (a.name, b.name, word)))
    return out


def _value_candidates(predicate: str, truth: str, options: Sequence[str]) -> Candidates:
    return {True: [Query(predicate, (truth,))], False: [Query(predicate, (x,)) for x in options if x != truth]}


def _country(facts: PatchFacts, rng: np.random.Generator) -> Candidates:
    return _value_candidates("country_is", facts.context.country, COUNTRIES)


def _season(facts: PatchFacts, rng: np.random.Generator) -> Candidates:
    return _value_candidates("season_is", facts.context.season, SEASONS)


def _climate(facts: PatchFacts, rng: np.random.Generator) -> Candidates:
    return _value_candidates("climate_is", facts.context.climate_zone, CLIMATE_OPTIONS)


_BINARY_BUILDERS: dict[str, Callable[[PatchFacts, np.random.Generator], Candidates]] = {
    "presence": _presence, "area": _area, "count": _counting, "adjacency": _adjacency,
    "relative position": _relative_position, "country": _country, "season": _season, "climate zone": _climate,
}  # fmt: skip


def template_fields(query: Query) -> dict[str, object]:
    """Return the template fields of a query's arguments (see :mod:`bigearth.text.templates`)."""
    args = query.args
    match query.predicate:
        case "area_above":
            return {"a": args[0], "t": templates.percent(float(args[1]))}
        case "components_above":
            return {"a": args[0], "k": args[1]}
        case "class_count_above":
            return {"k": args[0]}
        case "direction_is" | "direction":
            return {"a": args[0], "b": args[1], **({"d": args[2]} if len(args) > 2 else {})}
        case "climate_is":
            return {"x": describe_zone(str(args[0]))}
        case "country_is" | "season_is":
            return {"x": args[0]}
        case _:
            return dict(zip("ab", args, strict=False))


def binary_questions(facts: PatchFacts, rng: np.random.Generator, balancer: Balancer) -> list[Text]:
    """Return up to one yes/no question per category, balanced by ``balancer``."""
    texts = []
    for category in _BINARY_BUILDERS:
        candidates = _BINARY_BUILDERS[category](facts, rng)
        answer = balancer.answer((BINARY, category), {a: q or None for a, q in candidates.items()}, rng)
        if answer is None:
            continue
        query = balancer.item((BINARY, category), candidates[answer], answer, rng)
        question = templates.phrase(rng, templates.BINARY[query.predicate], **template_fields(query))
        texts.append(Text(question, YES if answer else NO, BINARY, category, query=query))
    return texts


# ---- multiple-choice questions: per category, (query, right value, distractors) ----

Choice = tuple[Query, object, list[object]]


def _numbers(right: int) -> list[object]:
    """Return the three counts nearest ``right`` (at least 1)."""
    near = sorted((n for n in range(1, right + 5) if n != right), key=lambda n: (abs(n - right), n))
    return list(near[:3])


def _mc_presence(facts: PatchFacts, rng: np.random.Generator) -> list[Choice]:
    right = draw(facts.names, rng)
    return [(Query("classes"), right, list(absent_classes(facts, rng)[:3]))]


def _mc_area(facts: PatchFacts, rng: np.random.Generator) -> list[Choice]:
    by_area = sorted(facts.classes.values(), key=lambda c: -c.pixels)
    choices: list[Choice] = []
    if len(by_area) == 1 or by_area[0].pixels > by_area[1].pixels:
        others = [c.name for c in by_area[1:]] + absent_classes(facts, rng)
        choices.append((Query("largest"), by_area[0].name, others[:3]))
    item = draw(by_area, rng)
    bins = [label for low, high, label in templates.AREA_BINS]
    right = next(label for low, high, label in templates.AREA_BINS if low <= item.area < high)
    edges = [low for low, _, _ in templates.AREA_BINS[1:]]
    if all(abs(item.area - edge) >= AREA_MARGIN for edge in edges):
        choices.append((Query("area_bin", (item.name,)), right, [b for b in bins if b != right]))
    return choices


def _mc_counting(facts: PatchFacts, rng: np.random.Generator) -> list[Choice]:
    item = draw(list(facts.classes.values()), rng)
    right = len(item.components)
    return [
        (Query("components", (item.name,)), right, _numbers(right)),
        (Query("class_count"), len(facts.classes), _numbers(len(facts.classes))),
    ]


def _mc_adjacency(facts: PatchFacts, rng: np.random.Generator) -> list[Choice]:
    touching = [c for c in facts.classes.values() if c.neighbours]
    if not touching:
        return []
    item = draw(touching, rng)
    right = draw(item.neighbours, rng)
    apart = [n for n in facts.names if n != item.name and n not in item.neighbours]
    distractors = [*shuffled(apart, rng), *absent_classes(facts, rng)][:3]
    return [(Query("neighbours", (item.name,)), right, distractors)]


def _mc_relative_position(facts: PatchFacts, rng: np.random.Generator) -> list[Choice]:
    choices: list[Choice] = []
    pairs = [(a, b, direction(a, b)) for a, b in permutations(facts.classes.values(), 2)]
    pairs = [(a, b, word) for a, b, word in pairs if word is not None]
    if pairs:
        a, b, word = draw(pairs, rng)
        choices.append((Query("direction", (a.name, b.name)), word, [w for w in DIRECTIONS if w != word]))
    item = draw(list(facts.classes.values()), rng)
    others = [r for r in ALL_REGIONS if r != item.position]
    choices.append((Query("position", (item.name,)), item.position, shuffled(others, rng)[:3]))
    return choices


def _mc_value(predicate: str, truth: str, options: Sequence[str], rng: np.random.Generator) -> list[Choice]:
    others = [x for x in options if x != truth]
    return [(Query(predicate), truth, shuffled(others, rng)[:3])]


_MC_BUILDERS: dict[str, Callable[[PatchFacts, np.random.Generator], list[Choice]]] = {
    "presence": _mc_presence, "area": _mc_area, "count": _mc_counting, "adjacency": _mc_adjacency,
    "relative position": _mc_relative_position,
    "country": lambda facts, rng: _mc_value("country", facts.context.country, COUNTRIES, rng),
    "season": lambda facts, rng: _mc_value("season", facts.context.season, SEASONS, rng),
    "climate zone": lambda facts, rng: _mc_value("climate", facts.context.climate_zone, CLIMATE_OPTIONS, rng),
}  # fmt: skip


def option_text(query: Query, value: object) -> str:
    """Return how an option value is written in a multiple-choice question."""
    match query.predicate:
        case "direction":
            return f"{value} of {templates.in_sentence(str(query.args[1]))}"
        case "position":
            return f"the {value}"
        case "climate":
            return describe_zone(str(value))
        case _:
            return str(value)


def multiple_choice_questions(facts: PatchFacts, rng: np.random.Generator, balancer: Balancer) -> list[Text]:
    """Return one four-option question per category where the patch allows it, right letters balanced."""
    texts = []
    for category in _MC_BUILDERS:
        choices = _MC_BUILDERS[category](facts, rng)
        if not choices:
            continue
        query, right, distractors = draw(choices, rng)
        position = balancer.letter((MULTIPLE_CHOICE, category), rng)
        options = list(distractors[:3])
        options.insert(position, right)
        question = templates.phrase(rng, templates.MULTIPLE_CHOICE[query.predicate], **template_fields(query))
        block = templates.options_block(question, [option_text(query, option) for option in options])
        texts.append(Text(block, LETTERS[position], MULTIPLE_CHOICE, category, query=query, options=tuple(options)))
    return texts
