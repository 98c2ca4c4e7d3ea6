"""Sentinel-1 and Sentinel-2 bands of reBEN: names, native sizes, presets and normalisation statistics.

Every band list in bigearth is selected by name from here, never by slicing arrays.
"""

from dataclasses import dataclass

from bigearth.errors import ConfigError

#: Sentinel-2 L2A bands of reBEN in their file order (no B10).
S2_BANDS: tuple[str, ...] = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B11", "B12")
#: Sentinel-1 GRD polarisations (backscatter in dB).
S1_BANDS: tuple[str, ...] = ("VV", "VH")
ALL_BANDS: tuple[str, ...] = S1_BANDS + S2_BANDS

#: Output size (pixels) of every band after resampling to the 10 m grid.
IMAGE_SIZE = 120

#: Ground sampling distance (m) of each band; 10 m bands are 120 px, 20 m 60 px, 60 m 20 px.
BAND_GSD: dict[str, int] = {
    "B01": 60, "B02": 10, "B03": 10, "B04": 10, "B05": 20, "B06": 20, "B07": 20,
    "B08": 10, "B8A": 20, "B09": 60, "B11": 20, "B12": 20, "VV": 10, "VH": 10,
}  # fmt: skip


def native_size(band: str) -> int:
    """Return the native width = height in pixels of a band in a 1200 m patch (120, 60 or 20)."""
    return IMAGE_SIZE * 10 // BAND_GSD[band]


def sensor(band: str) -> str:
    """Return ``"s1"`` or ``"s2"`` for a band name."""
    return "s1" if band in S1_BANDS else "s2"


#: Band orders of the ConfigILM BENv2 presets (>= 0.7), keyed by channel count.
BAND_PRESETS: dict[int, tuple[str, ...]] = {
    2: ("VV", "VH"),
    3: ("B04", "B03", "B02"),
    4: ("B02", "B03", "B04", "B08"),
    10: ("B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12"),
    12: ("VV", "VH", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12"),
    14: ("VV", "VH", "B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B11", "B12"),
}


@dataclass(frozen=True)
class BandStats:
    """Mean and standard deviation of one band, in its native unit (reflectance x 10^4, or dB)."""

    mean: float
    std: float


#: Train-split statistics of reBEN at 120 px, mean and std per band, as published with ConfigILM's BENv2 tools
#: (``120_nearest`` for nearest upsampling of the 20 m and 60 m bands, ``120_bilinear`` for bilinear), at their full
#: published precision so that bigearth and ConfigILM normalise identically.
REBEN_STATS: dict[str, BandStats] = {
    "B01": BandStats(361.0767822265625, 575.0687255859375),
    "B02": BandStats(438.3720703125, 607.02685546875),
    "B03": BandStats(614.0556640625, 603.2968139648438),
    "B04": BandStats(588.4096069335938, 684.56884765625),
    "B05": BandStats(942.8433227539062, 738.4326782226562),
    "B06": BandStats(1769.931640625, 1100.4560546875),
    "B07": BandStats(2049.551513671875, 1275.805419921875),
    "B08": BandStats(2193.2919921875, 1369.3717041015625),
    "B8A": BandStats(2235.556640625, 1356.5440673828125),
    "B09": BandStats(2241.455322265625, 1316.393310546875),
    "B11": BandStats(1568.226806640625, 1070.1612548828125),
    "B12": BandStats(997.7324829101562, 813.5276489257812),
    "VV": BandStats(-12.643863677978516, 5.133493900299072),
    "VH": BandStats(-19.352558135986328, 5.590505599975586),
}

REBEN_STATS_BILINEAR: dict[str, BandStats] = {
    "B01": BandStats(360.64678955078125, 563.1734008789062),
    "B02": BandStats(438.3720703125, 607.02685546875),
    "B03": BandStats(614.0556640625, 603.2968139648438),
    "B04": BandStats(588.4096069335938, 684.56884765625),
    "B05": BandStats(942.7476806640625, 727.5784301757812),
    "B06": BandStats(1769.8486328125, 1087.4288330078125),
    "B07": BandStats(2049.475830078125, 1261.4302978515625),
    "B08": BandStats(2193.2919921875, 1369.3717041015625),
    "B8A": BandStats(2235.48681640625, 1342.490478515625),
    "B09": BandStats(2241.10595703125, 1294.35546875),
    "B11": BandStats(1568.2115478515625, 1063.9197998046875),
    "B12": BandStats(997.715087890625, 806.8846435546875),
    "VV": BandStats(-12.643863677978516, 5.133493900299072),
    "VH": BandStats(-19.352558135986328, 5.590505599975586),
}


def published_stats(resample: str = "nearest") -> dict[str, BandStats]:
    """Return reBEN's published statistics for the resampling of the 20 m and 60 m bands (nearest or bilinear)."""
    return REBEN_STATS_BILINEAR if resample == "bilinear" else REBEN_STATS


def resolve_bands(bands: str | int | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Resolve a band selection to a tuple of band names.

    Args:
        bands: a preset channel count (``2, 3, 4, 10, 12, 14``, also as a string), ``"s1"``, ``"s2"``,
            ``"s1s2"`` / ``"all"`` (all 14 bands, ConfigILM's order) or an explicit sequence of band names.

    Raises:
        ConfigError: for an unknown preset or band name, or a band named twice.
    """
    if isinstance(bands, str):
        named = {"s1": BAND_PRESETS[2], "s2": S2_BANDS, "s1s2": BAND_PRESETS[14], "all": BAND_PRESETS[14]}
        if bands.lower() in named:
            return named[bands.lower()]
        bands = int(bands) if bands.isdigit() else [b.strip() for b in bands.split(",")]
    if isinstance(bands, int):
        if bands not in BAND_PRESETS:
            raise ConfigError(f"no band preset with {bands} channels; presets: {sorted(BAND_PRESETS)}")
        return BAND_PRESETS[bands]
    names = tuple(bands)
    unknown = [b for b in names if b not in ALL_BANDS]
    if unknown:
        raise ConfigError(f"unknown band names {unknown}; bands are {list(ALL_BANDS)} (note: B8A, zero-padded B01)")
    if len(set(names)) != len(names):
        raise ConfigError(f"band list {list(names)} names a band twice")
    if not names:
        raise ConfigError("the band list is empty")
    return names
