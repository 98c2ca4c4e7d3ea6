"""Mini-reBEN: synthetic patches in exactly the official reBEN layout, with a learnable land-cover signal.

The mini-reBEN is the project's embedded demo, test and benchmark data. It is written like the real release
(:mod:`bigearth.data.layout`): per-band S2 GeoTIFFs at native 120/60/20 px (uint16, nodata 0, no pixel 0), S1
VV/VH in dB (float32, 120 px), DEFLATE reference maps of 3-digit CLC codes, and both metadata files with the
official schema. Labels are the sorted class names present in the reference map, the split is the geographic
rule (:func:`bigearth.data.geo.geographic_split`), and patches flagged for seasonal snow or cloud/shadow go to
the second metadata file, as in reBEN.

How the data is made:

* **Geography.** Patches lie on eight real Sentinel-2 tiles in reBEN countries
  (:data:`bigearth.data.synth_signatures.TILES`), each in its Köppen-Geiger climate zone and with a land-cover
  mix of CLC codes that drifts across the tile from one side to the other.
* **Repeated acquisitions.** As in reBEN, a location (tile and grid position x, y) is imaged on each of its
  tile's dates: the tile's real L2A products (1 to 4, in different seasons), each with its real S1 partner
  scene. All acquisitions of a location share its reference map, labels and split; their pixels share what
  belongs to the place and change with the date (see :func:`render_patch`).
* **Labels.** A location's label set is drawn from the real label sets of its country
  (:mod:`bigearth.data.synth_labels`: the joint distribution of reBEN's metadata, so the number of classes per
  patch and their co-occurrence are the release's), tilted towards the land cover of its side of the tile.
  :func:`plan` makes sure that every class occurs in every split of the clean metadata.
* **Reference maps.** One warped Voronoi region per class of the set (plus a few repeating one), each at least
  :data:`MIN_REGION_FRACTION` of the patch and one CLC code; a few patches have a road (122) or an area outside
  the CLC polygons (999) that is unlabelled.
* **Pixels.** Each region shows its class's signature (:mod:`bigearth.data.synth_signatures`), changed by the
  class's phenology in the tile's climate on the acquisition's day (senescence, bare soil between crops), soil
  moisture, illumination and relief shading, haze, and S1 incidence, wind on water, frozen ground and speckle;
  with class textures at 10-60 m (tree crowns, buildings, orchard rows, field parcels and their edges) and
  per-pixel noise: a class looks different in every season and climate, so that invariances must be learned.
  20 m and 60 m bands are block means of the 10 m field. Snowy or cloudy patches get snow or a cloud with its
  shadow over part of the patch.

Everything is a pure function of ``(patches, seed)``: each location and each patch draws from its own
``numpy.random.Generator`` seeded by ``(seed, location or patch index, stream)``, and the same seed writes the
same bytes.
"""

import json
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import ndimage

from bigearth.atomic import atomic_write_json
from bigearth.data import synth_signatures as signatures
from bigearth.bands import IMAGE_SIZE, S1_BANDS, S2_BANDS, native_size
from bigearth.data.geo import GRID_SIZE, geographic_split, patch_latlon, patch_origin, utm_epsg
from bigearth.data.geotiff import write_band
from bigearth.data.layout import (
    METADATA_FILE,
    METADATA_SCHEMA,
    REFERENCE_DIR,
    S1_DIR,
    S2_DIR,
    SNOW_CLOUD_METADATA_FILE,
    SPLITS,
    parse_s2_name,
    reference_map_path,
    s1_band_path,
    s2_band_path,
)
from bigearth.data.metadata import write_metadata
from bigearth.data.synth_labels import draw_label_set
from bigearth.data.synth_signatures import CLIMATES, TILES, Acquisition, Climate, SynthTile
from bigearth.errors import BigEarthError, ConfigError
from bigearth.nomenclature import CLASS_CODES, CLASSES_TABLE, NUM_CLASSES, clc_to_index, labels_from_codes

DEFAULT_PATCHES = 600
#: Marker file of a mini-reBEN root: says the data is synthetic, how it was made, and whether it is complete.
MARKER_FILE = "mini-reben.json"
FORMAT = "mini-reBEN"
VERSION = 1

#: Smallest region of a reference map, as a fraction of the patch (so one-pixel labels are rare).
MIN_REGION_FRACTION = 0.03
#: Most regions of a reference map: one per class of the label set, plus a few that repeat one of its classes.
MAX_REGIONS = 12
EXTRA_REGIONS = 1.0  # mean number (Poisson) of regions repeating a class
#: Probability of each class on every tile, whatever the tile's mix (the tilt of the label sets; see plan).
FLOOR_PROBABILITY = 0.01
#: Probability that a patch has an unlabelled road (122) or an area outside the CLC polygons (999).
UNLABELLED_PROBABILITY = 0.08
#: Share of each split's locations that carry every class at least (see :func:`_cover_rare_classes`).
MIN_CLASS_SHARE = 0.05

# Appearance model (relative to the reflectance, or dB for S1): see render_patch.
PLACE_JITTER = 0.06  # per region and band, the same on every date (density, species, soil of the place)
REGION_JITTER = 0.03  # per region and band, new on every date
ILLUMINATION_JITTER = 0.04  # residual of the L2A correction, per acquisition
SHADING = 0.03  # relief shading per unit slope and unit cotangent of the sun elevation (capped at MAX_SHADING)
MAX_SHADING = 0.25
HAZE = 0.008  # mean haze reflectance at 490 nm (exponential; capped at MAX_HAZE), thinner at longer wavelengths
MAX_HAZE = 0.04
PIXEL_NOISE = 0.12
BAND_NOISE = 0.06
PARCELS = 25  # field parcels per patch (about 24 x 24 px = 240 x 240 m each)
S1_REGION_JITTER_DB = 0.4
S1_TEXTURE_DB = 8.0
S1_MOISTURE_DB = 5.0  # backscatter gain of wet bare soil (less under vegetation)
S1_VOLUME_DB = 3.0  # VH gain of green vegetation (volume scattering)
S1_WIND_DB = 12.0  # most backscatter gain of wind-roughened water
S1_FROZEN_DB = 2.5  # backscatter loss of frozen ground
S1_LOOKS = (3.5, 5.0)  # equivalent number of looks of GRD-H IW speckle, per acquisition

_TILE_BY_MGRS: dict[str, SynthTile] = {tile.mgrs: tile for tile in TILES}
_ACQUISITION_BY_PRODUCT: dict[str, Acquisition] = {a.product: a for tile in TILES for a in tile.acquisitions}

#: Signature rows: the 19 classes in table order, then artificial unlabelled surfaces, then no data (999).
_SIGNATURES = (*signatures.CLASS_SIGNATURES.values(), signatures.ARTIFICIAL_UNLABELLED, signatures.NO_DATA_UNLABELLED)
_ARTIFICIAL_ROW, _NO_DATA_ROW = NUM_CLASSES, NUM_CLASSES + 1
_S2_TABLE = np.array([[s.s2[band] for band in S2_BANDS] for s in _SIGNATURES], dtype=np.float32)
_S1_TABLE = np.array([[s.vv, s.vh] for s in _SIGNATURES], dtype=np.float32)
_TEXTURE_OF = np.array([signatures.TEXTURES.index(s.texture) for s in _SIGNATURES])
_ROUGHNESS = np.array([s.roughness for s in _SIGNATURES], dtype=np.float32)
_VEGETATION = np.array([s.vegetation for s in _SIGNATURES], dtype=np.float32)
_PHENOLOGY_OF = np.array([signatures.PHENOLOGIES.index(s.phenology) for s in _SIGNATURES])
_CROP = np.array([s.phenology == "crop" for s in _SIGNATURES])
_WATER = np.array([s.phenology == "none" and s.s2["B08"] < 500 for s in _SIGNATURES])
_SENESCENT = np.array([signatures.SENESCENT[band] for band in S2_BANDS], dtype=np.float32)
_SOIL = np.array([signatures.SOIL[band] for band in S2_BANDS], dtype=np.float32)
_WET_SOIL = np.array([signatures.SOIL_WETNESS_DARKENING[band] for band in S2_BANDS], dtype=np.float32)
_HAZE_SHAPE = np.array([(signatures.WAVELENGTHS[band] / 490) ** -1.5 for band in S2_BANDS], dtype=np.float32)


@dataclass(frozen=True)
class PatchArrays:
    """The arrays of one synthetic patch, as they are written to the GeoTIFFs.

    Attributes:
        s2: S2 band name -> native-size ``(120|60|20, same)`` uint16 reflectance x 10^4 (no zeros).
        s1: ``"VV"`` / ``"VH"`` -> ``(120, 120)`` float32 backscatter in dB.
        reference_map: ``(120, 120)`` uint16 CLC level-3 codes.
    """

    s2: dict[str, np.ndarray]
    s1: dict[str, np.ndarray]
    reference_map: np.ndarray


def land_cover_mix(tile: SynthTile, x: float, y: float) -> np.ndarray:
    """Return the class probabilities (table order) of patch (x, y) of a tile.

    The tile's two mixes are interpolated along its direction; every class keeps :data:`FLOOR_PROBABILITY`.
    """
    dx, dy = tile.direction
    t = ((x - GRID_SIZE / 2) * dx + (y - GRID_SIZE / 2) * dy) / (GRID_SIZE * (abs(dx) + abs(dy))) + 0.5
    mix = (1 - t) * _class_weights(tile.mix_from) + t * _class_weights(tile.mix_to)
    return FLOOR_PROBABILITY + (1 - NUM_CLASSES * FLOOR_PROBABILITY) * mix


def _class_weights(mix: dict[int, float]) -> np.ndarray:
    """Turn a CLC code -> weight mix into normalised class probabilities (table order)."""
    weights = np.zeros(NUM_CLASSES)
    np.add.at(weights, clc_to_index(np.array(list(mix)), source="mini-reBEN mix").astype(int), list(mix.values()))
    return weights / weights.sum()


def _class_code(tile: SynthTile, klass: int, rng: np.random.Generator) -> int:
    """Pick the CLC code that a region of a class carries on a tile (the tile's own codes first)."""
    codes = sorted({c for c in (*tile.mix_from, *tile.mix_to) if c in CLASS_CODES[CLASSES_TABLE[klass]]})
    return int(rng.choice(codes)) if codes else CLASS_CODES[CLASSES_TABLE[klass]][0]


def _rng(seed: int, *key: int) -> np.random.Generator:
    """Return an independent generator for one purpose, seeded by ``(seed, *key)``."""
    return np.random.default_rng((seed, *key))


def _normalised(field: np.ndarray) -> np.ndarray:
    """Return a field shifted and scaled to zero mean and unit variance."""
    return (field - field.mean()) / (field.std() + 1e-6)


def _smooth_field(rng: np.random.Generator, cells: int) -> np.ndarray:
    """Return a smooth zero-mean unit-variance random field of 120x120 (cubic zoom of cells x cells noise)."""
    return _normalised(ndimage.zoom(rng.standard_normal((cells, cells)), IMAGE_SIZE / cells, order=3, mode="mirror"))


def region_geometry(count: int, rng: np.random.Generator) -> tuple[np.ndarray, int | None]:
    """Draw the regions of a patch: ``count`` warped Voronoi cells, each at least :data:`MIN_REGION_FRACTION`.

    Cells smaller than that grow (their seed distance shrinks step by step) until all are large enough.

    Args:
        count: number of regions (1 to :data:`MAX_REGIONS`).
        rng: the location's geometry generator.

    Returns:
        A ``(120, 120)`` uint8 map of region indices ``0..count-1`` (index ``count`` marks unlabelled pixels if
        any) and the CLC code of those unlabelled pixels (122 or 999), or None.
    """
    seeds = rng.uniform(0, IMAGE_SIZE, (count, 2))
    offsets = rng.uniform(-10, 10, count)
    rows, cols = np.mgrid[0:IMAGE_SIZE, 0:IMAGE_SIZE] + 0.5
    rows = rows + 10 * _smooth_field(rng, 6)
    cols = cols + 10 * _smooth_field(rng, 6)
    distance = np.hypot(rows - seeds[:, 0, None, None], cols - seeds[:, 1, None, None]) + offsets[:, None, None]
    minimum = MIN_REGION_FRACTION * IMAGE_SIZE**2
    regions = distance.argmin(axis=0)
    for _ in range(400):  # a few steps at most in practice; 400 steps of 1 px cover the patch's diagonal
        small = np.bincount(regions.ravel(), minlength=count) < minimum
        if not small.any():
            break
        distance[small] -= 1.0
        regions = distance.argmin(axis=0)
    regions = regions.astype(np.uint8)
    if rng.random() >= UNLABELLED_PROBABILITY:
        return regions, None
    if rng.random() < 0.6:  # a road or railway line crossing the patch
        code, angle, shift = 122, rng.uniform(0, np.pi), rng.uniform(-40, 40)
        rows, cols = np.mgrid[0:IMAGE_SIZE, 0:IMAGE_SIZE] - IMAGE_SIZE / 2
        mask = np.abs(cols * np.cos(angle) + rows * np.sin(angle) - shift) < 1.5
    else:  # an area outside the CLC polygons
        code, fraction = 999, rng.uniform(0.03, 0.15)
        field = _smooth_field(rng, 4)
        mask = field > np.quantile(field, 1 - fraction)
    remaining = np.bincount(regions[~mask], minlength=count)
    if remaining.min() < minimum * 2 / 3:  # never let the overlay swallow a labelled region
        return regions, None
    regions[mask] = count
    return regions, code


def reference_map(row: Mapping[str, Any], seed: int) -> np.ndarray:
    """Return the ``(120, 120)`` uint16 CLC reference map of a planned patch (cheap; no pixel rendering).

    All acquisitions of a location share it, as in reBEN (one CORINE map per place).

    Args:
        row: the patch's row of :func:`plan` (uses ``tile``, ``location`` and ``region_codes``).
        seed: the seed given to :func:`plan`.
    """
    regions, overlay = region_geometry(len(row["region_codes"]), _rng(seed, 1, int(row["location"]), 0))
    return _burn([int(code) for code in row["region_codes"]], overlay, regions)


def _burn(codes: list[int], overlay: int | None, regions: np.ndarray) -> np.ndarray:
    """Return the uint16 CLC map of a region-index map: region i gets ``codes[i]``, the overlay its code."""
    return np.array([*codes, overlay or 0], dtype=np.uint16)[regions]


def _positions(count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Sample ``count`` distinct grid positions of a tile, spread over the rings 1/2 : 1/4 : 1/4 of the split."""
    y, x = np.divmod(np.arange(GRID_SIZE * GRID_SIZE), GRID_SIZE)
    ring = geographic_split(x, y)
    quota = {"validation": round(count / 4), "test": round(count / 4)}
    quota["train"] = count - quota["validation"] - quota["test"]
    chosen = np.concatenate(
        [rng.choice(np.flatnonzero(ring == split), size=quota[split], replace=False) for split in SPLITS]
    )
    return x[chosen], y[chosen]


def _dates(locations: int, dates: int, patches: int, rng: np.random.Generator) -> list[list[int]]:
    """Spread ``patches`` acquisitions over ``locations`` places imaged on up to ``dates`` dates.

    As in reBEN, where almost every location of a tile is on all of the tile's products, every location gets all
    dates; the ``locations * dates - patches`` (fewer than ``dates``) left over are taken one at a time from
    locations in random order, each keeping at least one date.

    Returns:
        Per location, the sorted indices of its dates.
    """
    kept = [list(range(dates)) for _ in range(locations)]
    order = rng.permutation(locations)
    for j in range(locations * dates - patches):
        place = kept[order[j % locations]]
        place.pop(int(rng.integers(len(place))))
    return kept


def _draw_regions(tile: SynthTile, tilt: np.ndarray, rng: np.random.Generator) -> list[int]:
    """Draw the class of each region of a location: a real label set of its country, plus a few repeats.

    Args:
        tile: the location's tile.
        tilt: ``(19,)`` the location's land-cover mix over the tile's average (see :func:`draw_label_set`).
        rng: the location's label generator.

    Returns:
        One class index (table order) per region: every class of the set once (in random order), then
        Poisson(:data:`EXTRA_REGIONS`) regions repeating classes of the set, :data:`MAX_REGIONS` at most.
    """
    classes = draw_label_set(tile.country, tilt, rng)[:MAX_REGIONS]
    extra = min(MAX_REGIONS - len(classes), int(rng.poisson(EXTRA_REGIONS)))
    return [int(c) for c in rng.permutation(classes)] + [int(c) for c in rng.choice(classes, extra)]


def _cover_rare_classes(frame: pd.DataFrame, clean: np.ndarray, mixes: np.ndarray, seed: int) -> None:
    """Put every class on :data:`MIN_CLASS_SHARE` of each split's locations with a clean acquisition (in place).

    At least one location per split and class. A missing class replaces the region of the split's most frequent
    class (which stays present) at the locations whose mix favours the missing class most, one location at a
    time.

    Args:
        frame: one row per location (``split``, ``tile``, ``region_classes``, ``region_codes``).
        clean: ``(locations,)`` whether a location has an acquisition without snow, cloud or shadow.
        mixes: ``(locations, 19)`` class probabilities of each location.
        seed: the plan's seed.
    """
    classes, codes = frame["region_classes"].to_list(), frame["region_codes"].to_list()
    for split in SPLITS:
        members = np.flatnonzero(clean & (frame["split"] == split).to_numpy())
        counts = np.zeros(NUM_CLASSES, dtype=int)  # locations of the split that hold each class
        for i in members:
            counts[sorted(set(classes[i]))] += 1
        needed = max(1, int(np.ceil(MIN_CLASS_SHARE * len(members))))
        for klass in np.flatnonzero(counts < needed):
            for i in members[np.argsort(-mixes[members, klass], kind="stable")]:
                if counts[klass] >= needed:
                    break
                if klass in classes[i]:
                    continue
                donors = [r for r, c in enumerate(classes[i]) if counts[c] > needed]
                if donors:
                    region = max(donors, key=lambda r: counts[classes[i][r]])
                    counts[sorted(set(classes[i]))] -= 1
                    classes[i][region] = int(klass)
                    counts[sorted(set(classes[i]))] += 1
                    tile = _TILE_BY_MGRS[frame.at[i, "tile"]]
                    codes[i][region] = _class_code(tile, int(klass), _rng(seed, 2, i, int(klass)))


def plan(patches: int = DEFAULT_PATCHES, seed: int = 0) -> pd.DataFrame:
    """Plan a mini-reBEN: which patches exist, where and when, their land cover, flags, labels and split.

    Patches are spread evenly over :data:`TILES`. A tile's patches are repeated acquisitions of its locations,
    as in reBEN: each location (tile and grid position) is imaged on all of the tile's dates (1 to 4 real
    products, each with its S1 partner), except that a few locations miss a date so that the count is exactly
    ``patches`` (:func:`_dates`). Locations are at distinct positions drawn uniformly within each split ring,
    so all acquisitions of a location have its split, its reference map and its labels; snow and cloud flags
    are drawn per acquisition. Every tile has train, validation and test locations from 3 locations per tile on.

    Args:
        patches: number of patches, i.e. of acquisitions (at least 1).
        seed: non-negative seed; the same seed gives the same plan.

    Returns:
        One row per patch, ordered by patch name, with the official metadata columns
        (``patch_id, labels, split, country, s1_name, s2v1_name, contains_seasonal_snow,
        contains_cloud_or_shadow``) and private columns: ``tile`` (MGRS tile, e.g. ``"33UUP"``), ``x``, ``y``
        (grid column and row), ``index`` (row number, seeds the acquisition's generators), ``location`` (number
        of the location, seeds its geometry and ground texture) and ``region_codes`` (the CLC code of each
        region of the location's geometry; see :func:`reference_map`).

    Raises:
        ConfigError: if ``patches`` or ``seed`` is out of range.
    """
    if int(patches) < 1:
        raise ConfigError(f"a mini-reBEN needs at least 1 patch, got patches={patches}")
    if int(seed) < 0:
        raise ConfigError(f"the mini-reBEN seed must be a non-negative integer, got seed={seed}")
    patches, seed = int(patches), int(seed)
    rows, places = [], []
    for t, tile in enumerate(TILES):
        count = patches // len(TILES) + (t < patches % len(TILES))
        rng = _rng(seed, 0, t)
        locations = -(-count // len(tile.acquisitions))
        x, y = _positions(locations, rng)
        dates = _dates(locations, len(tile.acquisitions), count, rng)
        first = len(places)
        places.extend({"tile": tile.mgrs, "x": int(x[i]), "y": int(y[i])} for i in range(locations))
        for a, acquisition in enumerate(tile.acquisitions):
            members = [i for i in range(locations) if a in dates[i]]
            flagged = rng.permutation(len(members))
            n_snow = int(len(members) * acquisition.snow + 0.5)
            n_cloud = int(len(members) * acquisition.cloud + 0.5)
            for j, i in enumerate(members):
                name = parse_s2_name(f"{acquisition.product}_{x[i]:02d}_{y[i]:02d}")
                rows.append(
                    {
                        "patch_id": name.patch_id,
                        "country": tile.country,
                        "s1_name": f"{acquisition.s1_scene}_{tile.mgrs}_{x[i]}_{y[i]}",
                        "s2v1_name": name.s2v1_name,
                        "contains_seasonal_snow": bool(flagged[j] < n_snow),
                        "contains_cloud_or_shadow": bool(n_snow <= flagged[j] < n_snow + n_cloud),
                        "location": first + i,
                    }
                )
    frame = pd.DataFrame(rows).sort_values("patch_id", ignore_index=True)
    frame["index"] = np.arange(len(frame))
    sites = pd.DataFrame(places)
    sites["split"] = geographic_split(sites["x"].to_numpy(), sites["y"].to_numpy())
    mixes = np.stack(
        [land_cover_mix(_TILE_BY_MGRS[t], x, y) for t, x, y in zip(sites.tile, sites.x, sites.y, strict=True)]
    )
    average = {tile.mgrs: land_cover_mix(tile, GRID_SIZE / 2, GRID_SIZE / 2) for tile in TILES}
    region_classes, region_codes = [], []
    for i, mgrs in enumerate(sites["tile"]):
        tile, rng = _TILE_BY_MGRS[mgrs], _rng(seed, 1, i, 2)
        classes = _draw_regions(tile, mixes[i] / average[mgrs], rng)
        region_classes.append(classes)
        region_codes.append([_class_code(tile, c, rng) for c in classes])
    sites["region_classes"] = region_classes
    sites["region_codes"] = region_codes
    clean = ~(frame["contains_seasonal_snow"] | frame["contains_cloud_or_shadow"])
    has_clean = np.zeros(len(sites), dtype=bool)
    has_clean[frame.loc[clean, "location"].to_numpy()] = True
    _cover_rare_classes(sites, has_clean, mixes, seed)
    # Unlabelled overlays never erase a region, so the classes of the region codes are those of the map.
    sites["labels"] = [labels_from_codes(np.array(codes)) for codes in sites["region_codes"]]
    frame = frame.join(sites[["tile", "x", "y", "split", "labels", "region_codes"]], on="location")
    return frame[[*METADATA_SCHEMA.names, "tile", "x", "y", "index", "location", "region_codes"]]


def _parcels(rng: np.random.Generator) -> np.ndarray:
    """Return a ``(120, 120)`` map of :data:`PARCELS` field parcels (indices; warped Voronoi cells)."""
    seeds = rng.uniform(0, IMAGE_SIZE, (PARCELS, 2))
    rows, cols = np.mgrid[0:IMAGE_SIZE, 0:IMAGE_SIZE] + 0.5
    rows, cols = rows + 3 * _smooth_field(rng, 8), cols + 3 * _smooth_field(rng, 8)
    return np.hypot(rows - seeds[:, 0, None, None], cols - seeds[:, 1, None, None]).argmin(axis=0)


def _textures(rng: np.random.Generator, parcels: np.ndarray) -> np.ndarray:
    """Return one zero-mean unit-variance field per texture kind, ``(len(TEXTURES), 120, 120)`` float32.

    Scales of 1-6 pixels (10-60 m): tree crowns and buildings (``grain``, ``dots``), rows of orchards and
    vineyards (``stripes``, 40-70 m), lots (``blocks``, 120 m), and field parcels with their boundaries
    (``parcels``: one brightness per parcel, dark 10 m hedges and tracks between them).
    """
    rows, cols = np.mgrid[0:IMAGE_SIZE, 0:IMAGE_SIZE].astype(np.float32)
    angle, period, phase = rng.uniform(0, np.pi), rng.uniform(4, 7), rng.uniform(0, 2 * np.pi)
    edges = np.zeros(parcels.shape, dtype=bool)
    edges[:-1] |= parcels[:-1] != parcels[1:]
    edges[:, :-1] |= parcels[:, :-1] != parcels[:, 1:]
    fields = {
        "smooth": _smooth_field(rng, 12),
        "grain": _normalised(ndimage.gaussian_filter(rng.standard_normal((IMAGE_SIZE, IMAGE_SIZE)), 0.8)),
        "stripes": np.sqrt(2) * np.sin(2 * np.pi * (cols * np.cos(angle) + rows * np.sin(angle)) / period + phase),
        "blocks": np.kron(rng.standard_normal((10, 10)), np.ones((12, 12))),
        # dark crowns of scattered trees or shrubs
        "dots": -_normalised(ndimage.gaussian_filter(rng.standard_normal((IMAGE_SIZE, IMAGE_SIZE)), 1.2) > 0.25),
        "parcels": _normalised(rng.standard_normal(PARCELS)[parcels] - 2.5 * edges),
    }
    return np.stack([fields[kind] for kind in signatures.TEXTURES]).astype(np.float32)


def _cover(rng: np.random.Generator) -> np.ndarray:
    """Return the opacity (0..1) of snow or cloud over 20-60 % of a patch, with soft edges."""
    field = _smooth_field(rng, 5)
    threshold = np.quantile(field, 1 - rng.uniform(0.2, 0.6))
    return (np.clip((field - threshold) / 0.5, 0, 1) * rng.uniform(0.7, 0.95)).astype(np.float32)


def _spectrum(values: dict[str, float]) -> np.ndarray:
    """Return a band -> reflectance table as a ``(12, 1, 1)`` array in S2_BANDS order."""
    return np.array([values[band] for band in S2_BANDS], dtype=np.float32)[:, None, None]


def _season_curve(day: float | np.ndarray, peak: float | np.ndarray, half_width: float) -> np.ndarray:
    """Return a smooth 0..1 bump of the day of the year: 1 at ``peak``, 0 from ``half_width`` days away."""
    distance = np.abs((np.asarray(day) - peak + 182.5) % 365 - 182.5)
    return np.where(distance < half_width, 0.5 + 0.5 * np.cos(np.pi * distance / half_width), 0.0)


def _greenness(climate: Climate, day: int) -> np.ndarray:
    """Return the greenness (0..1) of each signature row on a day, by its phenology (crops: see render_patch)."""
    growing = float(_season_curve(day, climate.peak, climate.half_width))
    seasonal = climate.floor + (1 - climate.floor) * growing
    by_kind = {"none": 1.0, "evergreen": 0.8 + 0.2 * growing, "deciduous": seasonal, "grass": seasonal,
               "wetland": 0.5 + 0.5 * seasonal, "crop": 1.0}  # fmt: skip
    return np.array([by_kind[kind] for kind in signatures.PHENOLOGIES], dtype=np.float32)[_PHENOLOGY_OF]


def _sun_elevation(mgrs: str, day: int) -> float:
    """Return the sun elevation (degrees) at a tile's centre near 10:30 local solar time, Sentinel-2's overpass."""
    latitude = float(patch_latlon(mgrs, GRID_SIZE // 2, GRID_SIZE // 2)[0])
    declination = 23.44 * np.sin(2 * np.pi * (284 + day) / 365)
    noon = 90 - latitude + declination
    return max(5.0, float(np.degrees(np.arcsin(np.sin(np.radians(noon)) * np.cos(np.radians(22.5))))))


def render_patch(row: Mapping[str, Any], seed: int) -> PatchArrays:
    """Render the arrays of one planned patch (pure and deterministic given ``row`` and ``seed``).

    What belongs to the place (its location's generators) is the same on every date: the regions, the ground
    texture, the field parcels and their crops, the relief and each region's own shade. What belongs to the
    acquisition (the patch's generators and its date) changes:

    * **phenology**: each class's greenness follows its phenology in the tile's climate on the day of the year
      (grass brown in a Mediterranean summer, deciduous trees bare in winter, a short subarctic summer); its
      vegetated share turns into senescent leaves, or, for crops, into bare soil outside each parcel's own
      growing season (winter cereals, spring crops, maize);
    * **soil moisture**: wetter in the climate's wet season, with a smooth field over the patch; wet soil is
      darker (most in the SWIR) and backscatters more;
    * **illumination**: an L2A residual factor and relief shading that grows at low sun (winter, the north);
    * **haze**: a smooth additive path radiance, strongest in the blue, that also lowers the contrast;
    * **S1**: incidence angle (about 0.12 dB per degree and a gradient across the patch), wind on water, frozen
      ground, volume scattering of green vegetation, and gamma speckle of 3.5-5 looks;
    * snow, or a cloud with its shadow, over part of flagged patches, and per-pixel and per-band noise.

    The 10 m field of every S2 band is then ``(place look x brightness) + haze``; 20 m and 60 m bands are block
    means of it.

    Args:
        row: the patch's row of :func:`plan` (``patch_id``, ``tile``, ``index``, ``location``, ``region_codes``
            and the two flags).
        seed: the seed given to :func:`plan`.

    Returns:
        The patch's S2 bands, S1 polarisations and reference map.
    """
    tile, index, location = _TILE_BY_MGRS[row["tile"]], int(row["index"]), int(row["location"])
    acquisition = _ACQUISITION_BY_PRODUCT[parse_s2_name(row["patch_id"]).tile]
    climate, day = CLIMATES[tile.climate], acquisition.day_of_year
    regions, overlay = region_geometry(len(row["region_codes"]), _rng(seed, 1, location, 0))
    codes = [int(code) for code in row["region_codes"]]
    signature_rows = clc_to_index(np.array(codes), source="mini-reBEN plan").astype(int).tolist()
    if overlay is not None:
        signature_rows.append(_NO_DATA_ROW if overlay == 999 else _ARTIFICIAL_ROW)
    keys = np.array(signature_rows)[regions]
    cells = len(signature_rows)
    # the place
    place = _rng(seed, 1, location, 3)
    parcels = _parcels(place)
    texture = np.take_along_axis(_textures(place, parcels), _TEXTURE_OF[keys][None], axis=0)[0]
    sowing = climate.peak + place.choice([-75.0, -30.0, 35.0], PARCELS) + place.normal(0, 12, PARCELS)
    relief = _smooth_field(place, 8)
    shade = 1 + PLACE_JITTER * place.standard_normal((cells, len(S2_BANDS)), dtype=np.float32)
    # the day
    rng = _rng(seed, 1, index, 1)
    greenness = _greenness(climate, day)[keys]
    crop = _CROP[keys]
    greenness[crop] = _season_curve(day, sowing, 60.0)[parcels[crop]]
    wettest = 0.5 + 0.35 * np.cos(2 * np.pi * (day - climate.wettest) / 365) + 0.15 * rng.standard_normal()
    moisture = np.clip(wettest + 0.15 * _smooth_field(rng, 4), 0, 1).astype(np.float32)
    soil = _SOIL[:, None, None] * (1 - _WET_SOIL[:, None, None] * moisture)
    dormant = np.where(crop, soil, _SENESCENT[:, None, None])
    withered = _VEGETATION[keys] * (1 - greenness)
    s2_mean = np.moveaxis(_S2_TABLE[keys] * shade[regions], -1, 0) * (1 - withered) + dormant * withered
    jitter = 1 + REGION_JITTER * rng.standard_normal((cells, len(S2_BANDS)), dtype=np.float32)
    elevation = _sun_elevation(tile.mgrs, day)
    illumination = (np.sin(np.radians(elevation)) / np.sin(np.radians(45))) ** 0.25
    illumination *= 1 + ILLUMINATION_JITTER * rng.standard_normal()
    shading = 1 + min(MAX_SHADING, SHADING / np.tan(np.radians(elevation))) * relief
    roughness = _ROUGHNESS[keys]
    shared = _normalised(ndimage.gaussian_filter(rng.standard_normal((IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32), 0.7))
    brightness = (
        illumination
        * shading
        * np.clip(1 + roughness * texture, 0.3, None)
        * np.clip(1 + PIXEL_NOISE * shared, 0.3, None)
    )
    band_noise = 1 + BAND_NOISE * rng.standard_normal((len(S2_BANDS), IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32)
    field = s2_mean * np.moveaxis(jitter[regions], -1, 0) * brightness * band_noise
    haze = min(MAX_HAZE, rng.exponential(HAZE)) * np.clip(1 + 0.5 * _smooth_field(rng, 3), 0.2, None)
    field = field * (1 - 2 * haze) + 1e4 * haze * _HAZE_SHAPE[:, None, None]
    if row["contains_seasonal_snow"]:
        alpha = _cover(rng)
        field = field * (1 - alpha) + _spectrum(signatures.SNOW) * illumination * alpha
    if row["contains_cloud_or_shadow"]:
        alpha = _cover(rng)
        shadow = ndimage.shift(alpha, rng.uniform(6, 15, 2), order=0, cval=0.0)
        field = field * (1 - (1 - signatures.SHADOW_FACTOR) * shadow * (1 - alpha))
        field = field * (1 - alpha) + _spectrum(signatures.CLOUD) * alpha
    s2 = {}
    for b, band in enumerate(S2_BANDS):
        size = native_size(band)
        factor = IMAGE_SIZE // size
        block = field[b].reshape(size, factor, size, factor).mean(axis=(1, 3))
        s2[band] = np.clip(np.rint(block), 1, np.iinfo(np.uint16).max).astype(np.uint16)
    s1_jitter = S1_REGION_JITTER_DB * rng.standard_normal((cells, len(S1_BANDS)))
    cols = np.arange(IMAGE_SIZE, dtype=np.float32)[None, :] / IMAGE_SIZE - 0.5
    incidence = rng.uniform(30, 45) + 0.3 * cols  # degrees; a 1200 m patch spans about 0.3 degrees
    water = _WATER[keys]
    bare = (1 - _VEGETATION[keys] * greenness) * ~water
    ground = S1_MOISTURE_DB * moisture * bare - S1_FROZEN_DB * (climate.frozen and greenness.mean() < 0.3) * ~water
    wind = S1_WIND_DB * rng.uniform() ** 2 * water
    volume = S1_VOLUME_DB * (_VEGETATION[keys] * greenness - 0.5)
    looks = rng.uniform(*S1_LOOKS)
    s1 = {}
    for p, band in enumerate(S1_BANDS):
        speckle = 10 * np.log10(rng.gamma(looks, 1 / looks, (IMAGE_SIZE, IMAGE_SIZE)))
        backscatter = _S1_TABLE[keys, p] + s1_jitter[regions, p] + S1_TEXTURE_DB * roughness * texture
        backscatter = backscatter + ground + wind - 0.12 * (incidence - 37.5) + (volume if band == "VH" else 0)
        s1[band] = (backscatter + speckle).astype(np.float32)
    return PatchArrays(s2=s2, s1=s1, reference_map=_burn(codes, overlay, regions))


def write_patch(root: Path, row: Mapping[str, Any], arrays: PatchArrays) -> None:
    """Write one patch's GeoTIFFs under a release root, georeferenced like the real patch (x, y) of its tile.

    Args:
        root: release root.
        row: the patch's row of :func:`plan` (``patch_id``, ``s1_name``, ``tile``, ``x``, ``y``).
        arrays: the patch's arrays from :func:`render_patch`.
    """
    epsg = utm_epsg(row["tile"])
    origin = patch_origin(row["tile"], int(row["x"]), int(row["y"]))
    for band, array in arrays.s2.items():
        write_band(s2_band_path(root, row["patch_id"], band), array, epsg=epsg, origin=origin, nodata=0)
    for band, array in arrays.s1.items():
        write_band(s1_band_path(root, row["s1_name"], band), array, epsg=epsg, origin=origin, nodata=None)
    path = reference_map_path(root, row["patch_id"])
    write_band(path, arrays.reference_map, epsg=epsg, origin=origin, nodata=0, compress="deflate")


def is_mini_reben(root: Path) -> bool:
    """Return whether ``root`` holds a mini-reBEN (complete or not), by its marker file."""
    try:
        return json.loads((Path(root) / MARKER_FILE).read_text()).get("format") == FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def _clear(out: Path) -> None:
    """Make ``out`` ready for a mini-reBEN: create it, or empty the data of a previous mini-reBEN in it.

    Raises:
        BigEarthError: if ``out`` is a file, or a non-empty folder that holds no mini-reBEN.
    """
    if out.exists() and not out.is_dir():
        raise BigEarthError(f"cannot write a mini-reBEN to {out}: it is a file; give a new or empty folder")
    if out.is_dir() and any(out.iterdir()) and not is_mini_reben(out):
        raise BigEarthError(
            f"refusing to write a mini-reBEN into {out}: the folder is not empty and holds no mini-reBEN "
            f"(no {MARKER_FILE}); give a new or empty folder, or a previous mini-reBEN to replace"
        )
    out.mkdir(parents=True, exist_ok=True)
    for name in (METADATA_FILE, SNOW_CLOUD_METADATA_FILE):  # first, so that a half-replaced root looks unfinished
        (out / name).unlink(missing_ok=True)
    for name in (S2_DIR, S1_DIR, REFERENCE_DIR):
        if (out / name).is_dir():
            shutil.rmtree(out / name)


def synthesize(
    out: Path,
    *,
    patches: int = DEFAULT_PATCHES,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """Write a whole mini-reBEN release (GeoTIFFs and both metadata files) under ``out``.

    ``out`` must be new, empty or a previous mini-reBEN (which is replaced). The metadata files and then the
    marker ``mini-reben.json`` (``"complete": true``) are written last, so an interrupted run does not look
    complete.

    Args:
        out: release root to create.
        patches: number of patches.
        seed: non-negative seed; the same seed writes the same bytes.
        progress: called as ``progress(done, total)`` after each patch.

    Returns:
        The plan of all patches (clean and flagged; see :func:`plan` for the columns).

    Raises:
        BigEarthError: if ``out`` is a file or a non-empty folder that is no mini-reBEN.
        ConfigError: if ``patches`` or ``seed`` is out of range.
    """
    out = Path(out)
    frame = plan(patches, seed)
    _clear(out)
    marker = {"format": FORMAT, "version": VERSION, "patches": len(frame), "seed": int(seed), "complete": False}
    marker["note"] = "synthetic data made by bigearth (bigearth.data.synth), not Sentinel or CORINE data"
    atomic_write_json(out / MARKER_FILE, marker)
    for done, row in enumerate(frame.to_dict("records"), start=1):
        write_patch(out, row, render_patch(row, seed))
        if progress is not None:
            progress(done, len(frame))
    flagged = (frame["contains_seasonal_snow"] | frame["contains_cloud_or_shadow"]).to_numpy()
    write_metadata(frame[~flagged], out / METADATA_FILE)
    write_metadata(frame[flagged], out / SNOW_CLOUD_METADATA_FILE)
    atomic_write_json(out / MARKER_FILE, {**marker, "complete": True})
    return frame
