"""The facts table: :class:`~bigearth.text.facts.PatchFacts` as parquet rows, one row per patch and class present.

Columns (:data:`FACTS_SCHEMA`): the patch context (``patch_id`` .. ``climate_zone``), ``unlabelled`` (share of
unlabelled pixels), then per class ``class``, ``pixels``, ``area`` (share 0..1), ``centroid_x``/``centroid_y``
(normalised, x east, y south), ``position`` (3 x 3 cell), ``box`` (``[x_min, y_min, x_max, y_max]`` normalised),
``neighbours`` (classes touched), and per 4-connected component, largest first, ``component_pixels``,
``component_boxes`` and ``component_neighbours``. :func:`facts_from_table` reads it back unchanged.
"""

import pandas as pd
import pyarrow as pa

from bigearth.errors import MetadataError
from bigearth.text.facts import ClassFacts, Component, PatchContext, PatchFacts

_CONTEXT_FIELDS: list[tuple[str, pa.DataType]] = [
    ("patch_id", pa.string()), ("s1_name", pa.string()), ("split", pa.string()), ("country", pa.string()),
    ("season", pa.string()), ("latitude", pa.float64()), ("longitude", pa.float64()),
    ("climate_zone", pa.string()),
]  # fmt: skip
FACTS_SCHEMA = pa.schema(
    [
        *_CONTEXT_FIELDS,
        ("unlabelled", pa.float64()),
        ("class", pa.string()),
        ("pixels", pa.int32()),
        ("area", pa.float64()),
        ("centroid_x", pa.float64()),
        ("centroid_y", pa.float64()),
        ("position", pa.string()),
        ("box", pa.list_(pa.float64(), 4)),
        ("neighbours", pa.list_(pa.string())),
        ("component_pixels", pa.list_(pa.int32())),
        ("component_boxes", pa.list_(pa.list_(pa.float64(), 4))),
        ("component_neighbours", pa.list_(pa.list_(pa.string()))),
    ]
)


def facts_rows(facts: PatchFacts) -> list[dict]:
    """Return the facts-table rows of one patch (one per class present, table order)."""
    context = {name: getattr(facts.context, name) for name, _ in _CONTEXT_FIELDS}
    return [
        {
            **context,
            "unlabelled": facts.unlabelled,
            "class": item.name,
            "pixels": item.pixels,
            "area": item.area,
            "centroid_x": item.centroid[0],
            "centroid_y": item.centroid[1],
            "position": item.position,
            "box": list(item.box),
            "neighbours": list(item.neighbours),
            "component_pixels": [c.pixels for c in item.components],
            "component_boxes": [list(c.box) for c in item.components],
            "component_neighbours": [list(c.neighbours) for c in item.components],
        }
        for item in facts.classes.values()
    ]


def facts_table(facts: list[PatchFacts]) -> pa.Table:
    """Return the facts table of many patches."""
    rows = [row for patch in facts for row in facts_rows(patch)]
    return pa.Table.from_pylist(rows, schema=FACTS_SCHEMA)


def facts_from_table(table: pa.Table | pd.DataFrame) -> list[PatchFacts]:
    """Read a facts table back into :class:`PatchFacts`, in the order of first appearance of each patch.

    Raises:
        MetadataError: if a column is missing.
    """
    frame = table.to_pandas() if isinstance(table, pa.Table) else table
    missing = [name for name in FACTS_SCHEMA.names if name not in frame.columns]
    if missing:
        raise MetadataError(f"the facts table lacks the column(s) {missing}; write it with `bigearth text generate`")
    patches: list[PatchFacts] = []
    for _, rows in frame.groupby("patch_id", sort=False):
        first = rows.iloc[0]
        context = PatchContext(**{name: first[name] for name, _ in _CONTEXT_FIELDS})
        classes = {}
        for row in rows.to_dict("records"):
            components = tuple(
                Component(pixels=int(pixels), box=tuple(float(v) for v in box), neighbours=tuple(neighbours))
                for pixels, box, neighbours in zip(
                    row["component_pixels"], row["component_boxes"], row["component_neighbours"], strict=True
                )
            )
            classes[row["class"]] = ClassFacts(
                name=row["class"],
                pixels=int(row["pixels"]),
                area=float(row["area"]),
                centroid=(float(row["centroid_x"]), float(row["centroid_y"])),
                position=row["position"],
                box=tuple(float(v) for v in row["box"]),
                components=components,
                neighbours=tuple(row["neighbours"]),
            )
        patches.append(PatchFacts(context=context, unlabelled=float(first["unlabelled"]), classes=classes))
    return patches
