"""Referring-expression detection instructions of one patch: find the areas of a class, with normalised boxes.

Three kinds, one each where the patch allows it: every area of a class (category ``presence``), its largest area
(``area``; asked only where that area is larger than the second), and its areas that border another class
(``adjacency``). An area is a 4-connected component (:mod:`bigearth.text.facts`); the output lists every one,
however small, as ``[x_min, y_min, x_max, y_max]`` normalised to 0..1 and rounded to :data:`BOX_DECIMALS`.
"""

import json
from collections.abc import Sequence

import numpy as np

from bigearth.text import templates
from bigearth.text.balance import draw
from bigearth.text.facts import Box, PatchFacts
from bigearth.text.schema import DETECTION, Query, Text

#: Decimals of box coordinates in the output (a pixel is 1/120 = 0.0083 of the patch side).
BOX_DECIMALS = 4


def boxes_json(boxes: Sequence[Box]) -> str:
    """Return boxes as the JSON list of ``[x_min, y_min, x_max, y_max]`` lists of the output."""
    return json.dumps([[round(float(v), BOX_DECIMALS) for v in box] for box in boxes])


def _instruction(rng: np.random.Generator, query: Query, boxes: Sequence[Box], category: str) -> Text:
    fields = dict(zip("ab", query.args, strict=False))
    text = templates.phrase(rng, templates.DETECTION[query.predicate], **fields)
    return Text(text, boxes_json(boxes), DETECTION, category, query=query)


def detection_instructions(facts: PatchFacts, rng: np.random.Generator) -> list[Text]:
    """Return the detection instructions of a patch (see the module docstring)."""
    classes = list(facts.classes.values())
    item = draw(classes, rng)
    texts = [_instruction(rng, Query("boxes", (item.name,)), [c.box for c in item.components], "presence")]
    clear = [c for c in classes if len(c.components) == 1 or c.components[0].pixels > c.components[1].pixels]
    split = [c for c in clear if len(c.components) > 1]
    if clear:
        item = draw(split or clear, rng)
        texts.append(_instruction(rng, Query("largest_box", (item.name,)), [item.components[0].box], "area"))
    touching = [c for c in classes if c.neighbours]
    if touching:
        item = draw(touching, rng)
        other = draw(item.neighbours, rng)
        boxes = [c.box for c in item.components if other in c.neighbours]
        texts.append(_instruction(rng, Query("boxes_touching", (item.name, other)), boxes, "adjacency"))
    return texts
