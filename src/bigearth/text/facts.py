"""What a reference map says about a patch: per class its area, connected components, boxes, neighbours and place.

Definitions (all on the ``(H, W)`` class-index mask, ``H = W = 120`` in reBEN; unlabelled pixels are ignored):

* **area**: the class's pixels over all ``H * W`` pixels of the patch (a share 0..1, unlabelled pixels count in
  the denominator, so the shares of a patch sum to ``1 - unlabelled``).
* **components**: 4-connected regions of the class (pixels sharing an edge), largest first.
* **boxes**: ``(x_min, y_min, x_max, y_max)`` normalised to 0..1, the outer pixel edges of a region (a one-pixel
  region at column 0, row 0 has the box ``(0, 0, 1/W, 1/H)``); x grows to the east, y to the south.
* **neighbours**: two classes touch where a pixel of one shares an edge with a pixel of the other; unlabelled
  pixels in between do not make classes touch.
* **centroid** and **position**: the mean of the class's pixel centres, normalised; the position is the cell of
  a 3 x 3 grid the centroid falls in (:data:`REGIONS`).
* **direction** of class a from class b: from their centroids (:func:`direction`).
"""

from dataclasses import dataclass
from functools import cache

import numpy as np
from scipy import ndimage

from bigearth.errors import CorruptDataError
from bigearth.nomenclature import CLASSES_TABLE, IGNORE_INDEX, clc_to_index

Box = tuple[float, float, float, float]

#: Names of the cells of a 3 x 3 grid over the patch, by [row][column] (row 0 = north, column 0 = west).
REGIONS: tuple[tuple[str, str, str], ...] = (
    ("north-west", "north", "north-east"),
    ("west", "centre", "east"),
    ("south-west", "south", "south-east"),
)
ALL_REGIONS: tuple[str, ...] = tuple(name for row in REGIONS for name in row)
#: Cardinal directions and the (axis, sign) of the centroid difference that means them (axis 0 = x, east).
DIRECTIONS: dict[str, tuple[int, int]] = {"north": (1, -1), "south": (1, 1), "east": (0, 1), "west": (0, -1)}
#: Smallest centroid difference (fraction of the patch side) that makes one class lie in a direction of another.
DIRECTION_MARGIN = 0.1


@dataclass(frozen=True)
class Component:
    """One 4-connected region of a class.

    Attributes:
        pixels: its size in pixels.
        box: its normalised bounding box ``(x_min, y_min, x_max, y_max)``.
        neighbours: the classes it touches, in table order.
    """

    pixels: int
    box: Box
    neighbours: tuple[str, ...]


@dataclass(frozen=True)
class ClassFacts:
    """What the reference map says about one class present in a patch.

    Attributes:
        name: the class name.
        pixels: its pixel count.
        area: its share of the patch's pixels, 0..1.
        centroid: mean pixel centre ``(x, y)``, normalised 0..1.
        position: the :data:`REGIONS` cell of the centroid.
        box: normalised bounding box of all its pixels.
        components: its 4-connected regions, largest first (ties: north-west first).
        neighbours: the classes it touches, in table order.
    """

    name: str
    pixels: int
    area: float
    centroid: tuple[float, float]
    position: str
    box: Box
    components: tuple[Component, ...]
    neighbours: tuple[str, ...]


@dataclass(frozen=True)
class PatchContext:
    """The metadata and georeference of a patch.

    Attributes:
        patch_id: S2 patch name.
        s1_name: S1 patch name.
        split: ``train``, ``validation`` or ``test``.
        country: country from the metadata.
        season: meteorological season of the S2 acquisition.
        latitude: patch-centre latitude, degrees north.
        longitude: patch-centre longitude, degrees east.
        climate_zone: Köppen-Geiger zone code of the patch centre.
    """

    patch_id: str
    s1_name: str
    split: str
    country: str
    season: str
    latitude: float
    longitude: float
    climate_zone: str


@dataclass(frozen=True)
class PatchFacts:
    """All facts of one patch.

    Attributes:
        context: metadata and georeference.
        unlabelled: share of unlabelled pixels, 0..1.
        classes: class name -> facts, for the classes present, in table order.
    """

    context: PatchContext
    unlabelled: float
    classes: dict[str, ClassFacts]

    @property
    def names(self) -> tuple[str, ...]:
        """The classes present, in table order."""
        return tuple(self.classes)


def region(x: float, y: float) -> str:
    """Return the :data:`REGIONS` cell of a normalised point (x east, y south)."""
    return REGIONS[min(int(y * 3), 2)][min(int(x * 3), 2)]


def direction(a: ClassFacts, b: ClassFacts) -> str | None:
    """Return the cardinal direction in which class ``a`` lies from class ``b``, or None where it is unclear.

    The direction is the axis of the larger centroid difference; it is clear when that difference is at least
    :data:`DIRECTION_MARGIN` and exceeds the other axis's difference by at least the same margin.
    """
    dx, dy = a.centroid[0] - b.centroid[0], a.centroid[1] - b.centroid[1]
    if max(abs(dx), abs(dy)) < DIRECTION_MARGIN or abs(abs(dx) - abs(dy)) < DIRECTION_MARGIN:
        return None
    if abs(dx) > abs(dy):
        return "east" if dx > 0 else "west"
    return "south" if dy > 0 else "north"


def direction_is(a: ClassFacts, b: ClassFacts, word: str) -> bool | None:
    """Return whether ``a`` lies ``word`` (north, south, east, west) of ``b``; None within the margin."""
    axis, sign = DIRECTIONS[word]
    difference = sign * (a.centroid[axis] - b.centroid[axis])
    if abs(difference) < DIRECTION_MARGIN:
        return None
    return difference > 0


def _touching_pairs(mask: np.ndarray) -> np.ndarray:
    """Return the ``(P, 2)`` flat pixel index pairs of edge-sharing pixels of different labelled classes."""
    index = np.arange(mask.size).reshape(mask.shape)
    pairs = []
    for first, second in ((np.s_[:, :-1], np.s_[:, 1:]), (np.s_[:-1, :], np.s_[1:, :])):
        a, b = mask[first], mask[second]
        keep = (a != b) & (a != IGNORE_INDEX) & (b != IGNORE_INDEX)
        pairs.append(np.stack([index[first][keep], index[second][keep]], axis=1))
    pairs = np.concatenate(pairs)
    return np.concatenate([pairs, pairs[:, ::-1]])  # both ways round


def _box(rows: slice, columns: slice, height: int, width: int) -> Box:
    return (
        float(columns.start / width),
        float(rows.start / height),
        float(columns.stop / width),
        float(rows.stop / height),
    )


@cache
def _pixel_centres(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Return the normalised x and y of every pixel centre of an ``(H, W)`` grid, flat."""
    rows, columns = np.divmod(np.arange(height * width), width)
    return (columns + 0.5) / width, (rows + 0.5) / height


def _centroids(mask: np.ndarray, counts: np.ndarray) -> list[tuple[float, float]]:
    """Return the normalised centroid ``(x, y)`` of every mask value (NaN for absent values)."""
    x, y = _pixel_centres(*mask.shape)
    flat = mask.ravel()
    with np.errstate(invalid="ignore", divide="ignore"):
        cx = np.bincount(flat, weights=x, minlength=counts.size) / counts
        cy = np.bincount(flat, weights=y, minlength=counts.size) / counts
    return list(zip(cx.tolist(), cy.tolist(), strict=True))


def class_facts(mask: np.ndarray, index: int, touching: np.ndarray, centroid: tuple[float, float]) -> ClassFacts:
    """Return the facts of one class present in a mask.

    Args:
        mask: ``(H, W)`` uint8 class indices in table order, ``IGNORE_INDEX`` for unlabelled pixels.
        index: the class index (table order); the class must have at least one pixel.
        touching: :func:`_touching_pairs` of the mask.
        centroid: the class's normalised centroid ``(x, y)`` (:func:`_centroids`).
    """
    height, width = mask.shape
    names = CLASSES_TABLE
    labels, count = ndimage.label(mask == index)
    flat_labels, flat_mask = labels.ravel(), mask.ravel()
    # component label -> classes its pixels touch
    mine = flat_labels[touching[:, 0]] > 0
    touched = {label: set() for label in range(1, count + 1)}
    keys = np.unique(flat_labels[touching[mine, 0]].astype(np.int64) * 256 + flat_mask[touching[mine, 1]])
    for key in keys.tolist():
        touched[key // 256].add(key % 256)
    sizes = np.bincount(flat_labels, minlength=count + 1)
    components = [
        Component(
            pixels=int(sizes[label]),
            box=_box(*found, height, width),
            neighbours=tuple(names[i] for i in sorted(touched[label])),
        )
        for label, found in enumerate(ndimage.find_objects(labels), start=1)
    ]
    components.sort(key=lambda c: (-c.pixels, c.box[1], c.box[0]))
    pixels = int(sizes[1:].sum())
    return ClassFacts(
        name=names[index],
        pixels=pixels,
        area=pixels / mask.size,
        centroid=centroid,
        position=region(*centroid),
        box=tuple(f(c.box[i] for c in components) for i, f in enumerate((min, min, max, max))),
        components=tuple(components),
        neighbours=tuple(names[i] for i in sorted(set().union(*touched.values()))),
    )


def mask_facts(mask: np.ndarray, context: PatchContext) -> PatchFacts:
    """Return the facts of a patch from its class-index mask.

    Args:
        mask: ``(H, W)`` uint8 class indices in table order, ``IGNORE_INDEX`` (255) for unlabelled pixels.
        context: the patch's metadata and georeference.

    Raises:
        CorruptDataError: if the mask has no labelled pixel (reBEN patches are at least 75 % labelled).
    """
    counts = np.bincount(mask.ravel(), minlength=IGNORE_INDEX + 1)
    present = np.flatnonzero(counts[: len(CLASSES_TABLE)])
    if present.size == 0:
        raise CorruptDataError(
            f"the reference map of patch {context.patch_id} has no labelled pixel; reBEN patches are at least "
            "75 % labelled: drop the patch from the metadata"
        )
    touching = _touching_pairs(mask)
    centroids = _centroids(mask, counts)
    classes = {CLASSES_TABLE[i]: class_facts(mask, int(i), touching, centroids[i]) for i in present}
    return PatchFacts(context=context, unlabelled=float(counts[IGNORE_INDEX] / mask.size), classes=classes)


def patch_facts(codes: np.ndarray, context: PatchContext) -> PatchFacts:
    """Return the facts of a patch from its reference map.

    Args:
        codes: ``(H, W)`` CLC level-3 codes (the reference map, uint16).
        context: the patch's metadata and georeference.

    Raises:
        CorruptDataError: if the map holds a value that is no CLC code, or no labelled pixel; the message names
            the patch.
    """
    mask = clc_to_index(codes, "table", source=f"the reference map of patch {context.patch_id}")
    return mask_facts(mask, context)
