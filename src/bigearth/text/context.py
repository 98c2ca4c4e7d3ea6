"""The metadata and georeference of every patch of a data set: what the texts say besides the reference map."""

from pathlib import Path

from bigearth.data.index import build_index
from bigearth.data.layout import SEASONS as METADATA_SEASONS
from bigearth.data.layout import parse_s2_name, season
from bigearth.text.climate import climate_zones
from bigearth.text.facts import PatchContext
from bigearth.text.schema import SEASONS

#: :func:`bigearth.data.layout.season` names -> the season names of the BigEarthNet.txt release.
RELEASED_SEASON: dict[str, str] = dict(zip(METADATA_SEASONS, (SEASONS[3], *SEASONS[:3]), strict=True))


def patch_contexts(
    data: Path, *, split: str | None = None, include_snow_cloud: bool = False, limit: int | None = None
) -> list[PatchContext]:
    """Return the context of every patch of a store or release root, in metadata order.

    Args:
        data: store folder or release root holding ``metadata.parquet``.
        split: keep one split only (``train``, ``validation``/``val``, ``test``), or None for all.
        include_snow_cloud: also take the patches flagged for seasonal snow or cloud/shadow.
        limit: keep the first ``limit`` patches only (benchmarks, trials).

    Raises:
        MissingDataError, MetadataError: if the metadata is absent or malformed.
    """
    index = build_index(Path(data), split=split, include_snow_cloud=include_snow_cloud)
    if limit is not None:
        index = index.take(range(min(limit, len(index.patch_id))))
    zones = climate_zones(index.lat, index.lon)
    frame = index.frame
    return [
        PatchContext(
            patch_id=patch_id,
            s1_name=s1_name,
            split=split_name,
            country=country,
            season=RELEASED_SEASON[season(parse_s2_name(patch_id).sensing_time)],
            latitude=float(lat),
            longitude=float(lon),
            climate_zone=str(zone),
        )
        for patch_id, s1_name, split_name, country, lat, lon, zone in zip(
            frame["patch_id"],
            frame["s1_name"],
            frame["split"],
            frame["country"],
            index.lat,
            index.lon,
            zones,
            strict=True,
        )
    ]
