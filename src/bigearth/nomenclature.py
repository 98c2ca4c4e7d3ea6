"""The reBEN 19-class nomenclature: CORINE Land Cover level-3 codes, both class orders and colours.

The 19 classes group CLC 2018 level-3 codes (Sumbul et al., "BigEarthNet-MM", 2021; Clasen et al., "reBEN",
IGARSS 2025). Two class orders are in use and both are supported by name:

* ``"table"``: the order of the nomenclature table (TorchGeo's ``BigEarthNetV2``).
* ``"alphabetical"``: sorted names (ConfigILM and the published reBEN model weights).
"""

from typing import Literal

import numpy as np

from bigearth.errors import ConfigError, CorruptDataError, MetadataError

ClassOrder = Literal["table", "alphabetical"]

#: class name -> CLC level-3 codes, in table order.
CLASS_CODES: dict[str, tuple[int, ...]] = {
    "Urban fabric": (111, 112),
    "Industrial or commercial units": (121,),
    "Arable land": (211, 212, 213),
    "Permanent crops": (221, 222, 223, 241),
    "Pastures": (231,),
    "Complex cultivation patterns": (242,),
    "Land principally occupied by agriculture, with significant areas of natural vegetation": (243,),
    "Agro-forestry areas": (244,),
    "Broad-leaved forest": (311,),
    "Coniferous forest": (312,),
    "Mixed forest": (313,),
    "Natural grassland and sparsely vegetated areas": (321, 333),
    "Moors, heathland and sclerophyllous vegetation": (322, 323),
    "Transitional woodland, shrub": (324,),
    "Beaches, dunes, sands": (331,),
    "Inland wetlands": (411, 412),
    "Coastal wetlands": (421, 422),
    "Inland waters": (511, 512),
    "Marine waters": (521, 522, 523),
}

#: CLC codes that belong to no class (pixels are "unlabelled"); 999 marks pixels outside every CLC polygon.
UNLABELLED_CODES: tuple[int, ...] = (122, 123, 124, 131, 132, 133, 141, 142, 332, 334, 335, 423, 999)

CLASSES_TABLE: tuple[str, ...] = tuple(CLASS_CODES)
CLASSES_ALPHABETICAL: tuple[str, ...] = tuple(sorted(CLASS_CODES))
NUM_CLASSES = len(CLASSES_TABLE)

#: Index of unlabelled pixels in a class-index mask (the ignore index of segmentation losses).
IGNORE_INDEX = 255

#: RGB colours (0..255), after the official CLC legend colour of each class's main code.
CLASS_COLOURS: dict[str, tuple[int, int, int]] = {
    "Urban fabric": (230, 0, 77),
    "Industrial or commercial units": (204, 77, 242),
    "Arable land": (255, 255, 168),
    "Permanent crops": (230, 128, 0),
    "Pastures": (230, 230, 77),
    "Complex cultivation patterns": (255, 230, 77),
    "Land principally occupied by agriculture, with significant areas of natural vegetation": (230, 204, 77),
    "Agro-forestry areas": (242, 204, 166),
    "Broad-leaved forest": (128, 255, 0),
    "Coniferous forest": (0, 166, 0),
    "Mixed forest": (77, 255, 0),
    "Natural grassland and sparsely vegetated areas": (204, 242, 77),
    "Moors, heathland and sclerophyllous vegetation": (166, 255, 128),
    "Transitional woodland, shrub": (166, 242, 0),
    "Beaches, dunes, sands": (230, 230, 230),
    "Inland wetlands": (166, 166, 255),
    "Coastal wetlands": (204, 204, 255),
    "Inland waters": (128, 242, 230),
    "Marine waters": (0, 204, 242),
}


def class_names(order: ClassOrder = "table") -> tuple[str, ...]:
    """Return the 19 class names in the named order.

    Args:
        order: ``"table"`` (nomenclature order, TorchGeo) or ``"alphabetical"`` (ConfigILM, reBEN weights).

    Raises:
        ConfigError: for any other order name.
    """
    if order == "table":
        return CLASSES_TABLE
    if order == "alphabetical":
        return CLASSES_ALPHABETICAL
    raise ConfigError(f"unknown class order {order!r}: use 'table' or 'alphabetical'")


def _code_lookup(order: ClassOrder) -> np.ndarray:
    """Return a 1000-entry table mapping a CLC code to a class index, ``IGNORE_INDEX`` or -1 (unknown)."""
    lookup = np.full(1000, -1, dtype=np.int16)
    lookup[list(UNLABELLED_CODES)] = IGNORE_INDEX
    for index, name in enumerate(class_names(order)):
        lookup[list(CLASS_CODES[name])] = index
    return lookup


_LOOKUPS: dict[str, np.ndarray] = {order: _code_lookup(order) for order in ("table", "alphabetical")}


def clc_to_index(codes: np.ndarray, order: ClassOrder = "table", *, source: str = "reference map") -> np.ndarray:
    """Map CLC level-3 codes to class indices.

    Args:
        codes: integer array of 3-digit CLC codes (any shape), e.g. a ``(120, 120)`` uint16 reference map.
        order: class order of the returned indices.
        source: what the codes come from, named in the error message.

    Returns:
        A uint8 array of the same shape with class indices 0..18 and ``IGNORE_INDEX`` (255) for unlabelled pixels.

    Raises:
        CorruptDataError: if a code is neither a class code nor a known unlabelled code.
    """
    lookup = _LOOKUPS[order] if order in _LOOKUPS else _code_lookup(order)
    codes = np.asarray(codes)
    in_range = (codes >= 0) & (codes < lookup.size)
    mapped = np.where(in_range, lookup[np.clip(codes, 0, lookup.size - 1)], -1)
    if (mapped < 0).any():
        unknown = sorted({int(c) for c in np.unique(codes[mapped < 0])})
        raise CorruptDataError(
            f"{source} holds values that are no CORINE Land Cover level-3 code: {unknown[:10]}; "
            "reference maps must hold 3-digit CLC 2018 codes (111..523) or 999 for no data"
        )
    return mapped.astype(np.uint8)


def labels_from_codes(codes: np.ndarray, order: ClassOrder = "table") -> list[str]:
    """Return the sorted class names present in a reference map (one pixel is enough), as reBEN labels them."""
    indices = np.unique(clc_to_index(codes, order))
    names = class_names(order)
    return sorted(names[i] for i in indices if i != IGNORE_INDEX)


def multi_hot(labels: list[str] | tuple[str, ...], order: ClassOrder = "table", *, patch: str = "") -> np.ndarray:
    """Encode class names as a float32 multi-hot vector of length 19 in the given order.

    Raises:
        MetadataError: if a name is not one of the 19 classes.
    """
    names = class_names(order)
    vector = np.zeros(len(names), dtype=np.float32)
    for label in labels:
        try:
            vector[names.index(label)] = 1.0
        except ValueError:
            raise MetadataError(
                f"unknown class name {label!r}{f' in patch {patch}' if patch else ''}; "
                "labels must be one of the 19 reBEN class names (bigearth.nomenclature.CLASSES_TABLE)"
            ) from None
    return vector
