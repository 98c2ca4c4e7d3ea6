"""The country of a patch, from offline country boundaries shipped by the ``geo-intel-offline`` package.

reBEN gives each patch the *closest* of the ten BigEarthNet countries to the patch (its pipeline measures the
distance to low-resolution Natural Earth borders), so patches just across a border or on the coast still get one
of the ten. bigearth does the same with the patch centre and the Natural Earth admin-0 polygons that
``geo-intel-offline`` ships (no network): the candidate country that holds the centre, else the nearest one
(distance in degrees, enough to pick the nearest border). On the 549,488 official patches this agrees with the
official ``country`` for 99.9 %; the differences lie along the Belgium/Luxembourg and Serbia/Kosovo borders,
where the border sources differ.
"""

from functools import cache

import numpy as np
import shapely

from bigearth._optional import require
from bigearth.data.layout import COUNTRIES
from bigearth.errors import ConfigError

#: The boundary source, recorded in the build summary.
BOUNDARY_SOURCE = "geo-intel-offline (Natural Earth admin-0 polygons, simplified)"


@cache
def _source() -> dict[str, list[dict]]:
    """Return the raw polygons of the boundary source, grouped by country name."""
    loader = require("geo_intel_offline.data_loader", extra="build").get_loader()
    grouped: dict[str, list[dict]] = {}
    for country_id, polygon in loader.polygons.items():
        name = loader.metadata.get(country_id, {}).get("name")
        if name:
            grouped.setdefault(name, []).append(polygon)
    return grouped


def country_names() -> tuple[str, ...]:
    """Return the names of every country of the boundary source."""
    return tuple(_source())


def _rings(rings: list | None) -> list[shapely.Geometry]:
    """Return valid polygons from (latitude, longitude) rings."""
    polygons = [shapely.Polygon([(lon, lat) for lat, lon in ring]) for ring in rings or [] if ring and len(ring) >= 4]
    return [shapely.make_valid(polygon) for polygon in polygons]


@cache
def boundary(name: str) -> shapely.Geometry:
    """Return a country's boundary in longitude/latitude (WGS 84), prepared for fast point tests.

    Raises:
        ConfigError: if the boundary source has no country of that name.
    """
    if name not in _source():
        raise ConfigError(
            f"unknown country name {name!r}; the boundary source ({BOUNDARY_SOURCE}) has e.g. {country_names()[:5]}"
        )
    parts = []
    for polygon in _source()[name]:
        shape = shapely.union_all(
            _rings(polygon.get("exteriors") if polygon.get("multi") else [polygon.get("exterior")])
        )
        holes = _rings(polygon.get("holes"))
        parts.append(shapely.difference(shape, shapely.union_all(holes)) if holes else shape)
    shape = shapely.union_all(parts)
    shapely.prepare(shape)
    return shape


def country_of(lat: np.ndarray, lon: np.ndarray, candidates: tuple[str, ...] | None = COUNTRIES) -> np.ndarray:
    """Return the country of each point: the candidate that holds it, else the nearest candidate.

    Args:
        lat: latitudes in degrees, ``(n,)``.
        lon: longitudes in degrees, ``(n,)``.
        candidates: the countries to choose from (default: reBEN's ten); None for every country of the source.

    Returns:
        ``(n,)`` array of country names.

    Raises:
        ConfigError: if a candidate is not a country of the boundary source.
    """
    names = country_names() if candidates is None else tuple(candidates)
    shapes = {name: boundary(name) for name in names}
    lat, lon = np.atleast_1d(np.asarray(lat, dtype=np.float64)), np.atleast_1d(np.asarray(lon, dtype=np.float64))
    result = np.full(lat.shape, "", dtype=object)
    inside = np.zeros(lat.shape, dtype=bool)
    for name in names:
        hit = ~inside & shapely.contains_xy(shapes[name], lon, lat)
        result[hit] = name
        inside |= hit
    if not inside.all():
        points = shapely.points(lon[~inside], lat[~inside])
        distances = np.stack([shapely.distance(shapes[name], points) for name in names], axis=1)
        result[~inside] = np.asarray(names, dtype=object)[distances.argmin(axis=1)]
    return result
